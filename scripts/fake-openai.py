#!/usr/bin/env python3
"""A fake OpenAI Images server for scripts/schemathesis (no real model runs there).

It checks the wire format Easel's `openai` engine sends: the Bearer key, JSON for
/v1/images/generations with prompt, n, size, model and response_format, multipart for
/v1/images/edits (image and mask PNG file parts) and /v1/images/variations (an image PNG
file part). Something off is answered 400 in OpenAI's error shape (and logged), so that
Easel's run fails loudly; otherwise it answers real PNGs of the requested size in
`data[].b64_json`. Usage: fake-openai.py API_KEY MODEL; prints `port N` once listening.
"""

import base64
import email.parser
import email.policy
import json
import re
import struct
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
API_KEY, MODEL = sys.argv[1], sys.argv[2]


def png(width, height, seed):
    """A solid RGB PNG whose colour depends on `seed` (different prompts, other images)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    colour = bytes(40 + (zlib.crc32(seed.encode()) >> s) % 160 for s in (0, 8, 16))
    row = b"\x00" + colour * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(row * height, 1)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def size_of(text):
    match = re.fullmatch(r"(\d+)x(\d+)", text or "")
    if not match:
        return None
    w, h = int(match[1]), int(match[2])
    return (w, h) if 1 <= w <= 4096 and 1 <= h <= 4096 else None


def multipart(content_type, body):
    """{name: (filename, bytes)} of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("the body is not multipart")
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        content_type = self.headers.get("content-type", "")
        problems = []
        if self.headers.get("authorization") != f"Bearer {API_KEY}":
            problems.append("authorization is not Bearer <key>")
        try:
            if self.path == "/v1/images/generations":
                if not content_type.startswith("application/json"):
                    problems.append("content-type is not application/json")
                fields = json.loads(body)
                prompt, n, size = fields.get("prompt"), fields.get("n"), fields.get("size")
                if fields.get("response_format") != "b64_json":
                    problems.append("response_format is not b64_json")
                model = fields.get("model")
            elif self.path in ("/v1/images/edits", "/v1/images/variations"):
                if not content_type.startswith("multipart/form-data"):
                    problems.append("content-type is not multipart/form-data")
                parts = multipart(content_type, body)
                files = ["image", "mask"] if self.path.endswith("edits") else ["image"]
                for name in files:
                    filename, data = parts.get(name, (None, b""))
                    if not filename or not data.startswith(PNG_SIGNATURE):
                        problems.append(f"{name} is not a PNG file part")
                text = {k: v[1].decode() for k, v in parts.items() if k not in files}
                if text.get("response_format") != "b64_json":
                    problems.append("response_format is not b64_json")
                prompt = text.get("prompt", "variation")
                n, size, model = int(text.get("n", "0")), text.get("size"), text.get("model")
            else:
                return self.answer(404, {"error": {"message": f"no route {self.path}"}})
            if not isinstance(prompt, str) or not prompt:
                problems.append("prompt is missing")
            if not isinstance(n, int) or not 1 <= n <= 10:
                problems.append(f"n is {n!r}")
            if model != MODEL:
                problems.append(f"model is {model!r}")
            if size_of(size) is None:
                problems.append(f"size is {size!r}")
        except (ValueError, KeyError, UnicodeDecodeError) as error:
            problems.append(str(error))
        if problems:
            print(f"fake-openai: {self.path}: {'; '.join(problems)}", file=sys.stderr, flush=True)
            error = {"message": "; ".join(problems), "type": "invalid_request_error"}
            return self.answer(400, {"error": error})
        image = base64.b64encode(png(*size_of(size), prompt)).decode()
        self.answer(200, {"created": int(time.time()), "data": [{"b64_json": image}] * n})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
