#!/usr/bin/env python3
"""Renders chat templates with jinja2 set up as transformers sets it up (the reference for grpovi's renders).

    /usr/bin/python3 scripts/chat-templates/render.py < cases.json

stdin: a JSON list of {"template", "special_tokens", "messages", "tools", "add_generation_prompt"};
stdout: a JSON list of the rendered texts (or {"error": message}). transformers' settings, from
`_compile_jinja_template` in transformers/utils/chat_template_utils.py: a sandboxed environment with
trim_blocks and lstrip_blocks, the loopcontrols extension, `raise_exception`, and a `tojson` filter
that is json.dumps with ensure_ascii=False (not jinja2's HTML-safe one).
"""
import json
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def main():
    env = environment()
    out = []
    for case in json.load(sys.stdin):
        try:
            template = env.from_string(case["template"])
            out.append(template.render(messages=case["messages"], tools=case.get("tools"), documents=None,
                                       add_generation_prompt=case.get("add_generation_prompt", True),
                                       **case.get("special_tokens", {})))
        except jinja2.exceptions.TemplateError as error:
            out.append({"error": str(error)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
