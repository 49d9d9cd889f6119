#!/usr/bin/env python3
"""Strict, typed check of a Slack app manifest (v1).

Rules from /work/shared/chat-protocols.md §8 (itself from slackapi/manifest-schema,
schemas/manifest.schema.1.0.0.json). Every object refuses unknown keys
(additionalProperties: false). Only the part of the v1 schema this bot can use is
modelled: a key Slack would accept but that is not modelled here is refused too — add it
below, with its limits, before using it.

Usage: check_slack_manifest.py FILE...   exit 0 if every file is valid, 1 otherwise.
"""
import re
import sys

import yaml

URL = re.compile(r"^https?://")


class Str:
    def __init__(self, min_len=1, max_len=None, pattern=None, what=None):
        self.min_len, self.max_len, self.pattern, self.what = min_len, max_len, pattern, what


class Bool:
    pass


class Int:
    pass


class List:
    def __init__(self, item, max_items=None, min_items=0, unique=False):
        self.item, self.max_items, self.min_items, self.unique = item, max_items, min_items, unique


class Obj:
    def __init__(self, fields, required=()):
        self.fields, self.required = fields, set(required)


def url(max_len):
    return Str(max_len=max_len, pattern=URL, what="an http(s) URL")


SCOPES = List(Str(max_len=50), max_items=255, unique=True)

MANIFEST = Obj(
    {
        "_metadata": Obj({"major_version": Int(), "minor_version": Int()}),
        "display_information": Obj(
            {
                "name": Str(max_len=35),
                "description": Str(max_len=140),
                "background_color": Str(
                    min_len=4, max_len=7, pattern=re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$"),
                    what="a #rgb or #rrggbb colour"),
                "long_description": Str(min_len=175, max_len=4000),
            },
            required=["name"],
        ),
        "features": Obj(
            {
                "bot_user": Obj(
                    {"display_name": Str(max_len=80), "always_online": Bool()},
                    required=["display_name"],
                ),
                "slash_commands": List(
                    Obj(
                        {
                            "command": Str(min_len=2, max_len=32, pattern=re.compile(r"^/"),
                                           what="starting with /"),
                            "url": url(3000),
                            "description": Str(max_len=2000),
                            "usage_hint": Str(max_len=1000),
                            "should_escape": Bool(),
                        },
                        required=["command", "description"],
                    ),
                    min_items=1,
                    max_items=50,
                ),
            }
        ),
        "oauth_config": Obj({"scopes": Obj({"bot": SCOPES, "user": SCOPES})}),
        "settings": Obj(
            {
                "interactivity": Obj(
                    {
                        "is_enabled": Bool(),
                        "request_url": url(3500),
                        "message_menu_options_url": url(3500),
                    },
                    required=["is_enabled"],
                ),
                "event_subscriptions": Obj(
                    {
                        "request_url": url(3500),
                        "bot_events": List(Str(max_len=50), max_items=100, unique=True),
                    }
                ),
                "org_deploy_enabled": Bool(),
                "socket_mode_enabled": Bool(),
                "token_rotation_enabled": Bool(),
            }
        ),
    },
    required=["display_information"],
)


def check(spec, value, path, errors):
    where = path or "(root)"
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            errors.append(f"{where}: expected a mapping, got {type(value).__name__}")
            return
        for key in value:
            if key not in spec.fields:
                errors.append(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(spec.fields))})")
        for key in sorted(spec.required - set(value)):
            errors.append(f"{where}: missing required key {key!r}")
        for key, sub in value.items():
            if key in spec.fields:
                check(spec.fields[key], sub, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(spec, List):
        if not isinstance(value, list):
            errors.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        if len(value) < spec.min_items:
            errors.append(f"{where}: at least {spec.min_items} item(s) required")
        if spec.max_items is not None and len(value) > spec.max_items:
            errors.append(f"{where}: {len(value)} items, at most {spec.max_items} allowed")
        if spec.unique and len(set(map(repr, value))) != len(value):
            errors.append(f"{where}: items must be unique")
        for i, item in enumerate(value):
            check(spec.item, item, f"{path}[{i}]", errors)
    elif isinstance(spec, Str):
        if not isinstance(value, str):
            errors.append(f"{where}: expected a string, got {type(value).__name__}")
            return
        if len(value) < spec.min_len:
            errors.append(f"{where}: {len(value)} characters, at least {spec.min_len} required")
        if spec.max_len is not None and len(value) > spec.max_len:
            errors.append(f"{where}: {len(value)} characters, at most {spec.max_len} allowed")
        if spec.pattern is not None and not spec.pattern.search(value):
            errors.append(f"{where}: {value!r} is not {spec.what}")
    elif isinstance(spec, Bool):
        if not isinstance(value, bool):
            errors.append(f"{where}: expected true or false, got {value!r}")
    elif isinstance(spec, Int):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{where}: expected an integer, got {value!r}")
    else:  # pragma: no cover
        raise TypeError(spec)


def check_file(name):
    try:
        with open(name, encoding="utf-8") as f:
            docs = list(yaml.safe_load_all(f))
    except (OSError, yaml.YAMLError) as e:
        return [f"cannot read: {e}"]
    if len(docs) != 1:
        return [f"expected exactly one YAML document, found {len(docs)}"]
    errors = []
    check(MANIFEST, docs[0], "", errors)
    manifest = docs[0] if isinstance(docs[0], dict) else {}
    meta = manifest.get("_metadata") or {}
    if isinstance(meta, dict) and meta.get("major_version", 1) != 1:
        errors.append("_metadata.major_version: only manifest v1 is modelled here")
    return errors


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for name in argv:
        errors = check_file(name)
        for e in errors:
            print(f"ERROR {name}: {e}")
        if errors:
            failed = True
        else:
            print(f"OK {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
