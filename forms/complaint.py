"""举报投诉登记 (AU-2; JL 第二十一条): what the receiving department writes down when a complaint arrives.

The receiving department, who registered it and when come from the signed-in officer or API caller.
Pure: the service checks ``received_at`` against the engine's clock and the case against the
department's jurisdiction. A complaint names its household by case number or, when the caller does
not know it, by names and address (``subject_text``): one of the two is required.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate
from marshmallow import validates_schema

from forms import register
from forms.base import FormSchema

CHANNELS = {
    "phone": "电话",
    "email": "电子邮箱",
    "online": "网上（门户网站、微信、微博）",
    "letter_visit": "来信来访",
    "other": "其他",
}
ANONYMOUS = "匿名"


def _text(max_length: int, label: str, *, required: str | None = None, help_text: str | None = None) -> fields.String:
    """A free-text field; ``required`` is the message when it is missing (None: optional)."""
    metadata = {"label": label, **({"help": help_text} if help_text else {})}
    length = validate.Length(max=max_length, error=f"不超过 {max_length} 字")
    if required:
        return fields.String(required=True, validate=length, metadata=metadata,
                             error_messages={"required": required})
    return fields.String(load_default=None, allow_none=True, validate=length, metadata=metadata)


@register
class ComplaintForm(FormSchema):
    form_key = "complaint"
    title = "举报投诉登记"

    channel = fields.String(required=True, validate=validate.OneOf(list(CHANNELS), error="请选择举报渠道"),
                            metadata={"label": "举报渠道", "choices": CHANNELS},
                            error_messages={"required": "请选择举报渠道"})
    channel_detail = _text(100, "渠道说明", help_text="如：12345 热线、微信公众号、来信地址")
    received_at = fields.DateTime(required=True,
                                  metadata={"label": "收到时间", "help": "北京时间（未注明时区的按北京时间）"},
                                  error_messages={"required": "请填写收到时间", "invalid": "应为日期时间"})
    complainant_name = _text(50, "举报人", help_text="不愿透露姓名的填写「匿名」或留空")
    complainant_contact = _text(100, "联系方式")
    case_no = _text(60, "被举报家庭的核对业务编号")
    subject_text = _text(500, "被举报家庭（姓名、住址）", help_text="不知道业务编号时填写")
    content = _text(2000, "举报内容", required="请填写举报内容")

    @validates_schema
    def _normalise(self, data: dict[str, Any], **_: Any) -> None:
        for key in ("channel_detail", "complainant_name", "complainant_contact", "case_no", "subject_text",
                    "content"):
            value = (data.get(key) or "").strip()
            data[key] = value or None
        if data["content"] is None:
            raise ValidationError("请填写举报内容", "content")
        data["complainant_name"] = data["complainant_name"] or ANONYMOUS
        if data["case_no"] is None and data["subject_text"] is None:
            raise ValidationError("请填写被举报家庭的业务编号，或其姓名、住址", "subject_text")
