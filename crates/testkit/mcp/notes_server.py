#!/usr/bin/env python3
"""A tiny MCP server over stdio for the tests (standard library only).

It speaks JSON-RPC 2.0, one message per line, as the MCP stdio transport does: `initialize`
(answering the client's protocol version when it knows it), `notifications/initialized`,
`ping`, `tools/list` and `tools/call`. Its tools:

- `lookup_word`: the definition of a word from a small dictionary (`word`: string).
- `fail`: always a tool error (`isError: true`), to see errors reach the model.
- `quit`: answers, then the server exits, as a crashing server would.
- `hang`: answers only after `seconds` (default 60), as a server that hangs would.

Every start (`{"started": true}`) and every call is appended as one JSON line to the file
named by the first argument, if given, so a test can check what reached the server.
"""

import json
import sys
import time

KNOWN_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
DICTIONARY = {
    "petrichor": "the smell of rain on dry earth",
    "sonder": "the feeling that every passer-by has a life as vivid as your own",
}
TOOLS = [
    {
        "name": "lookup_word",
        "description": "Look up a word in the dictionary.",
        "inputSchema": {
            "type": "object",
            "properties": {"word": {"type": "string", "description": "The word."}},
            "required": ["word"],
        },
    },
    {
        "name": "fail",
        "description": "Always fails.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "quit",
        "description": "Stops the server.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "hang",
        "description": "Answers late.",
        "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}},
    },
]

calls_log = sys.argv[1] if len(sys.argv) > 1 else None


def result(message_id, value):
    return {"jsonrpc": "2.0", "id": message_id, "result": value}


def error(message_id, code, text):
    return {"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}}


def text_result(text, is_error=False):
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def call_tool(params):
    name = params.get("name")
    arguments = params.get("arguments") or {}
    log_line({"name": name, "arguments": arguments})
    if name == "lookup_word":
        word = str(arguments.get("word", "")).lower()
        meaning = DICTIONARY.get(word)
        if meaning is None:
            return text_result(f"no entry for {word!r}", is_error=True)
        return text_result(f"{word}: {meaning}")
    if name == "fail":
        return text_result("the fail tool always fails", is_error=True)
    if name == "quit":
        return text_result("bye")
    if name == "hang":
        time.sleep(float(arguments.get("seconds", 60)))
        return text_result("finally")
    return None


def handle(message):
    method = message.get("method")
    message_id = message.get("id")
    params = message.get("params") or {}
    if message_id is None:
        return None  # a notification: nothing to answer
    if method == "initialize":
        asked = params.get("protocolVersion")
        version = asked if asked in KNOWN_VERSIONS else KNOWN_VERSIONS[0]
        return result(
            message_id,
            {
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "notes-test-server", "version": "1.0.0"},
            },
        )
    if method == "ping":
        return result(message_id, {})
    if method == "tools/list":
        return result(message_id, {"tools": TOOLS})
    if method == "tools/call":
        answer = call_tool(params)
        if answer is None:
            return error(message_id, -32602, f"unknown tool {params.get('name')!r}")
        return result(message_id, answer)
    return error(message_id, -32601, f"method not found: {method}")


def log_line(entry):
    if calls_log:
        with open(calls_log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


def main():
    log_line({"started": True})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            answer = error(None, -32700, "parse error")
        else:
            answer = handle(message) if isinstance(message, dict) else error(None, -32600, "invalid request")
        if answer is not None:
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
        if isinstance(message, dict) and message.get("method") == "tools/call":
            if (message.get("params") or {}).get("name") == "quit":
                return


if __name__ == "__main__":
    main()
