"""Parses an e-mail file with Python's `email` package and prints its structure as JSON
(the report tests assert on it). Usage: python3 inspect_email.py FILE"""
import email
import email.policy
import json
import struct
import sys


def part(p):
    if p.is_multipart():
        return {
            "type": p.get_content_type(),
            "type_param": p.get_param("type"),
            "parts": [part(c) for c in p.iter_parts()],
            "defects": [type(d).__name__ for d in p.defects],
        }
    out = {
        "type": p.get_content_type(),
        "cid": p.get("Content-ID"),
        "disposition": p.get_content_disposition(),
        "filename": p.get_filename(),
        "encoding": p.get("Content-Transfer-Encoding"),
        "defects": [type(d).__name__ for d in p.defects],
    }
    content = p.get_content()
    if isinstance(content, bytes):
        out["size"] = len(content)
        out["png"] = content[:8] == b"\x89PNG\r\n\x1a\n"
        if out["png"]:
            out["png_size"] = list(struct.unpack(">II", content[16:24]))
    else:
        out["text"] = content
    return out


msg = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
print(
    json.dumps(
        {
            "subject": str(msg["subject"]),
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "date": str(msg["date"]),
            "message_id": str(msg["message-id"]),
            "rcpt_to": str(msg["X-RcptTo"]) if msg["X-RcptTo"] else None,
            "defects": [type(d).__name__ for d in msg.defects],
            "tree": part(msg),
        }
    )
)
