"""twilio_calls.py - the Calls create operation of Twilio's REST API as
fake-sms.py speaks it, checked against Twilio's own OpenAPI description
(twilio-calls-openapi.json beside this file, extracted from twilio/twilio-oai
by extract-twilio-oai.py).

check(sid, content_type, pairs) -> a list of schema errors (empty: valid;
sid None: the account in the path is not checked);
created(sid, form, n) -> the 201 body, shaped like the description's example.
Python 3 standard library only.
"""
import json
import os
import re
import time
import urllib.parse
import xml.etree.ElementTree as ET
from email.utils import formatdate

PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "twilio-calls-openapi.json")
# An "endpoint" is a phone number in E.164, a SIP address or a Client identifier.
ENDPOINT_RE = re.compile(r"^(\+[1-9][0-9]{1,14}|sip:.+|client:.+|sim:.+)$")


class Schema:
    def __init__(self, path=SCHEMA_FILE):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.op = self.doc["paths"][PATH]["post"]
        body = self.op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        self.props = body["properties"]
        self.required = body.get("required", [])
        self.path_params = {p["name"]: p["schema"] for p in self.op.get("parameters", []) if p["in"] == "path"}
        # x-twilio "conditional": exactly one of each group (in snake_case)
        by_snake = {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): k for k in self.props}
        self.one_of = [[by_snake[n] for n in group] for group in self.op.get("x-twilio", {}).get("conditional", [])]
        # The values a field "Can be:" according to its description, where the
        # schema has no enum (StatusCallbackEvent, MachineDetection, ...).
        self.allowed = {}
        for k, v in self.props.items():
            m = re.search(r"Can be:? ([^.]*?)(?: and the default is|\.)", v.get("description", ""))
            if m and "enum" not in v and "enum" not in v.get("items", {}):
                words = re.findall(r"`([^`]+)`", m.group(1))
                if words:
                    self.allowed[k] = set(words)
        ex = self.op["responses"]["201"]["content"]["application/json"]["examples"]
        self.example = (ex.get("createWithTwiml") or next(iter(ex.values())))["value"]

    def _string(self, name, spec, value, errors):
        if "enum" in spec and value not in spec["enum"]:
            errors.append("%s: %r is not one of %s" % (name, value, spec["enum"]))
        if name in self.allowed and value not in self.allowed[name]:
            errors.append("%s: %r is not one of %s (its description)" % (name, value, sorted(self.allowed[name])))
        if "minLength" in spec and len(value) < spec["minLength"]:
            errors.append("%s: shorter than %d" % (name, spec["minLength"]))
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            errors.append("%s: longer than %d" % (name, spec["maxLength"]))
        if "pattern" in spec and not re.search(spec["pattern"], value):
            errors.append("%s: does not match %s" % (name, spec["pattern"]))
        fmt = spec.get("format")
        if fmt == "uri":
            u = urllib.parse.urlsplit(value)
            if u.scheme not in ("http", "https") or not u.hostname:
                errors.append("%s: %r is not an absolute http(s) URL" % (name, value))
        elif fmt == "endpoint" and not ENDPOINT_RE.match(value):
            errors.append("%s: %r is not a phone number, SIP address or client" % (name, value))
        elif fmt == "twiml":
            try:
                root = ET.fromstring(value.encode("utf-8"))
                if root.tag != "Response":
                    errors.append("%s: the root element is <%s>, not <Response>" % (name, root.tag))
            except ET.ParseError as e:
                errors.append("%s: not XML: %s" % (name, e))

    def _value(self, name, spec, value, errors):
        t = spec.get("type")
        if t == "integer":
            if not re.fullmatch(r"-?[0-9]+", value):
                errors.append("%s: %r is not an integer" % (name, value))
        elif t == "boolean":
            if value not in ("true", "false"):
                errors.append("%s: %r is not true or false" % (name, value))
        elif t == "string":
            self._string(name, spec, value, errors)

    def check(self, sid, content_type, pairs):
        errors = []
        for pname, spec in self.path_params.items():
            if sid is not None:  # None: the account is not checked
                self._string(pname, spec, sid, errors)
        if "application/x-www-form-urlencoded" not in (content_type or ""):
            errors.append("Content-Type %r is not application/x-www-form-urlencoded" % content_type)
        fields = {}
        for k, v in pairs:
            fields.setdefault(k, []).append(v)
        for k in self.required:
            if not any(fields.get(k, [])):
                errors.append("%s: required" % k)
        for k, values in fields.items():
            spec = self.props.get(k)
            if spec is None:
                errors.append("%s: not a property of CreateCallRequest" % k)
                continue
            if spec.get("type") == "array":
                item = dict(spec.get("items", {}))
                for v in values:  # each value against the item's type and the description's list
                    self._value(k, item, v, errors)
            else:
                if len(values) > 1:
                    errors.append("%s: given %d times" % (k, len(values)))
                for v in values:
                    self._value(k, spec, v, errors)
        for group in self.one_of:
            given = [k for k in group if k in fields]
            if len(given) != 1:
                errors.append("exactly one of %s is needed, got %s" % (group, given or "none"))
        return errors

    def created(self, account, form, n):
        """The 201 answer: the example's shape with this call's values."""
        body = json.loads(json.dumps(self.example))
        sid = "CA%032x" % n
        now = formatdate(time.time(), usegmt=False).replace("-0000", "+0000")
        old_sid, old_acc = body["sid"], body["account_sid"]

        def swap(o):
            if isinstance(o, dict):
                return {k: swap(v) for k, v in o.items()}
            if isinstance(o, str):
                return o.replace(old_acc, account).replace(old_sid, sid)
            return o
        body = swap(body)
        body.update({
            "sid": sid, "account_sid": account, "to": form.get("To"), "from": form.get("From"),
            "to_formatted": form.get("To"), "from_formatted": form.get("From"),
            "status": "queued", "direction": "outbound-api", "date_created": now, "date_updated": now,
            "start_time": None, "end_time": None, "duration": None, "price": None,
            "answered_by": None, "forwarded_from": None, "phone_number_sid": None,
        })
        return body


def error_body(errors):
    """A Twilio-style error answer for the first schema error."""
    first = errors[0]
    if first.startswith("To:"):
        code = 21201
    elif first.startswith("From:"):
        code = 21213
    elif "URL" in first:
        code = 21205
    else:
        code = 20001  # "Invalid parameter"
    return {"code": code, "message": first, "more_info": "https://www.twilio.com/docs/errors/%d" % code,
            "status": 400, "schema_errors": errors}
