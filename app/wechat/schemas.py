from marshmallow import fields, validate

from app.api import Schema


class PushedBillOut(Schema):
    order_id = fields.Integer()
    bill_url = fields.String()
    payable_cents = fields.Integer()
    recipients = fields.Integer(metadata={"description": "Diners at the table (and the order's member) on WeChat."})
    sent_to = fields.Integer(metadata={"description": "Of them, those who did not have this bill yet."})


class FollowQrOut(Schema):
    url = fields.String(metadata={"description": "The image of the official account's QR code for this scene."})
    scene = fields.String()


def _secret(description: str, max_length: int) -> fields.String:
    return fields.String(allow_none=True, load_default=None, load_only=True, validate=validate.Length(max=max_length),
                         metadata={"description": description + " Write-only: never returned; null or left out "
                                   "keeps the current value."})


class WeChatSettingsOut(Schema):
    is_configured = fields.Boolean(metadata={"description": "False until an owner first saves the account."})
    appid = fields.String()
    mch_id = fields.String(metadata={"description": "WeChat Pay merchant number; empty without WeChat Pay."})
    templates = fields.Dict(keys=fields.String(), values=fields.Dict(),
                            metadata={"description": "Template message id and keys per message kind."})
    app_secret_set = fields.Boolean()
    token_set = fields.Boolean()
    encoding_aes_key_set = fields.Boolean()
    api_key_set = fields.Boolean()
    pay_ready = fields.Boolean(metadata={"description": "mch_id and API key both set: WeChat Pay can be used."})
    callback_url = fields.String(metadata={"description": "The server URL to enter in the WeChat console."})


class WeChatSettingsIn(Schema):
    appid = fields.String(load_default=None, validate=validate.Length(max=32),
                          metadata={"description": "wx followed by 16 hex digits."})
    app_secret = _secret("AppSecret of the official account.", 64)
    token = _secret("Token that signs WeChat's calls to the server callback (3-32 letters or digits).", 32)
    encoding_aes_key = _secret("EncodingAESKey for the safe (encrypted) message mode: 43 letters or digits.", 43)
    mch_id = fields.String(load_default=None, validate=validate.Length(max=32),
                           metadata={"description": "WeChat Pay merchant number (digits); \"\" for none.",
                                     "external_id": True})
    api_key = _secret("WeChat Pay v2 API key: 32 letters or digits.", 32)
    templates = fields.Dict(load_default=None, keys=fields.String(validate=validate.Length(max=40)),
                            metadata={"description": "Replaces all templates: {kind: {\"template_id\": …, "
                                      "\"fields\": [keys] | {key: value name}} | null}."})
    clear = fields.List(fields.String(validate=validate.OneOf(
        ["app_secret", "token", "encoding_aes_key", "api_key"])), load_default=list, validate=validate.Length(max=4),
        metadata={"description": "Secrets to empty on purpose."})


class ConnectionCheckOut(Schema):
    ok = fields.Boolean()
    code = fields.String(metadata={"description": "ok, secret_missing, wechat_refused, wechat_unreachable, "
                                   "wechat_timeout or wechat_bad_answer."})
    message = fields.String(metadata={"description": "What happened, in the request's language."})
    errcode = fields.Integer(allow_none=True, metadata={"description": "WeChat's errcode when it refused."})
    errmsg = fields.String(allow_none=True, metadata={"description": "WeChat's errmsg when it refused."})
    api_base_url = fields.String(metadata={"description": "The WeChat API this server is configured with."})
    checked_at = fields.DateTime()
