#!/usr/bin/env python3
"""extract-twilio-oai.py - cut the Calls create operation out of Twilio's
published OpenAPI description (twilio/twilio-oai, spec/json/twilio_api_v2010.json,
MIT licence) into tests/integration/twilio-calls-openapi.json, which
fake-sms.py validates beredd's call requests against.

    extract-twilio-oai.py TWILIO_API_V2010_JSON COMMIT > twilio-calls-openapi.json

Kept as Twilio wrote it: the POST operation of
/2010-04-01/Accounts/{AccountSid}/Calls.json (parameters, requestBody, the
201 response with its examples), the path item's servers, and every
component it names through $ref, transitively. Nothing is reworded.
"""
import json
import sys

PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"


def refs(o, acc):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "$ref" and isinstance(v, str):
                acc.add(v)
            else:
                refs(v, acc)
    elif isinstance(o, list):
        for v in o:
            refs(v, acc)
    return acc


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    o = doc
    for part in ref[2:].split("/"):
        o = o[part]
    return o


def main():
    src, commit = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    item = doc["paths"][PATH]
    post = dict(item["post"])
    post["responses"] = {"201": post["responses"]["201"]}
    out_item = {k: item[k] for k in ("servers", "description") if k in item}
    out_item["post"] = post
    comps = {}
    todo = refs(post, set())
    security = {name for req in post.get("security", []) for name in req}
    done = set()
    while todo:
        ref = todo.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        target = resolve(doc, ref)
        comps.setdefault(kind, {})[name] = target
        todo |= refs(target, set()) - done
    for name in sorted(security):
        comps.setdefault("securitySchemes", {})[name] = doc["components"]["securitySchemes"][name]
    out = {
        "x-beredd-source": {
            "repository": "twilio/twilio-oai",
            "file": "spec/json/twilio_api_v2010.json",
            "commit": commit,
            "licence": "MIT (the repository's LICENSE: Copyright (C) 2023, Twilio, Inc.)",
            "extract": "tests/integration/extract-twilio-oai.py: the POST operation of " + PATH +
                       " (201 response only) and the components it names, unchanged",
        },
        "openapi": doc["openapi"],
        "info": doc["info"],
        "servers": doc.get("servers", []),
        "paths": {PATH: out_item},
        "components": {k: dict(sorted(v.items())) for k, v in sorted(comps.items())},
    }
    json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
