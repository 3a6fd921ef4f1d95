"""Request/response schemas of the API (whitelisted dump fields)."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from forms.base import FormSchema


class TokenRequestSchema(FormSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class TaskCompleteSchema(FormSchema):
    data = fields.Dict(load_default=dict)


class TaskReassignSchema(FormSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    #: 改派原因 (optional), recorded with the reassignment
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class TaskOutSchema(Schema):
    id = fields.String()
    instance_id = fields.Integer()
    bpmn_id = fields.String()
    name = fields.String()
    role_code = fields.String(data_key="role")
    form_key = fields.String()
    status = fields.Function(lambda t: t.status.value)
    due_at = fields.DateTime()
    assignee = fields.String()
    claimed_at = fields.DateTime()
    completed_by = fields.String()
    completed_at = fields.DateTime()
