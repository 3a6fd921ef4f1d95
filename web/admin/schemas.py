"""The administration forms: what a posted form must contain before a service sees it.

The services check the rules of the organisation (code lengths per level, which unit kinds
exist at which level, duplicates); these schemas check the shape of what was typed.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate
from marshmallow import validates_schema

from engine.models import RegionLevel
from engine.models import UnitKind
from forms.base import ROW_ID
from forms.household import PHONE_PATTERN
from web.home.schemas import HtmlFormSchema
from web.home.schemas import text

_CATEGORY_SPLIT = re.compile(r"\s*[,，、]\s*")


def _choice(values: list[str], error: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(values, error=error))


class RegionCreateSchema(HtmlFormSchema):
    code = fields.String(required=True,
                         validate=validate.Regexp(r"^\d{1,12}$", error="区划代码只能由数字组成，最多 12 位"))
    name = text(100)
    level = _choice([level.value for level in RegionLevel], "请从列表中选择区划层级")
    parent_code = fields.String(load_default=None)


class UnitCreateSchema(HtmlFormSchema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", error="单位代码为字母或数字开头的字母、数字、连字符、下划线，最多 40 位"))
    name = text(100)
    kind = _choice([kind.value for kind in UnitKind], "请从列表中选择单位类型")
    region_code = fields.String(required=True)
    categories = fields.String(load_default=None, validate=validate.Regexp(
        r"^[a-z][a-z_]*(\s*[,，、]\s*[a-z][a-z_]*)*$", error="数据类别应为以逗号分隔的英文代码，如 tax, real_estate"))
    contact_phone = fields.String(load_default=None,
                                  validate=validate.Regexp(PHONE_PATTERN, error="联系电话格式不正确"))

    @validates_schema
    def _categories_only_for_sharing_units(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("categories") and data.get("kind") != UnitKind.SHARING_UNIT.value:
            raise MarshmallowError("只有信息共享单位需要填写提供的数据类别", field_name="categories")

    @post_load
    def _split_categories(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        raw = data.get("categories")
        data["categories"] = _CATEGORY_SPLIT.split(raw) if raw else None
        return data


class UserCreateSchema(HtmlFormSchema):
    untrimmed = ("password", "password_confirm")

    username = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_.-]{1,63}$", error="用户名为小写字母开头的 2–64 位小写字母、数字、下划线、点或连字符"))
    display_name = text(100)
    password = fields.String(required=True, validate=validate.Length(min=8, max=256, error="密码须为 8–256 位"))
    password_confirm = fields.String(required=True)

    @validates_schema(skip_on_field_errors=False)
    def _passwords_match(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "password_confirm" in data and data.get("password") != data["password_confirm"]:
            raise MarshmallowError("两次输入的密码不一致", field_name="password_confirm")

    @post_load
    def _drop_confirmation(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data.pop("password_confirm", None)
        return data


class RoleGrantSchema(HtmlFormSchema):
    unit_id = fields.Integer(required=True, validate=ROW_ID)
    role_code = text(64)


class RoleRevokeSchema(RoleGrantSchema):
    pass


class RegistrationCreateSchema(HtmlFormSchema):
    user = text(64)
    sharing_unit = text(40)
    unit = text(40)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None)


class RegistrationEndSchema(HtmlFormSchema):
    last_day = fields.Date(required=True)


class UnitPhoneSchema(HtmlFormSchema):
    """Changing an existing unit's contact phone; empty clears it."""

    contact_phone = fields.String(load_default=None,
                                  validate=validate.Regexp(PHONE_PATTERN, error="联系电话格式不正确"))
