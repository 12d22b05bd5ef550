#!/usr/bin/env python3
"""Writes the hand-made seeds of both fuzz targets (fuzz/seeds/<target>/<name>).

Usage, from the repository root: python3 fuzz/make_seeds.py fuzz/seeds
"""
import json, os, sys

root = sys.argv[1]
def write(target, name, text):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

F = "frame_decoder"
frames = {
    # every client event of docs/protocol.md, as documented
    "create": '{"event": "room:create", "ref": 1}',
    "create_no_ref_no_data": '{"event":"room:create"}',
    "create_with_data": '{"event":"room:create","ref":"c1","data":{"ignored":[1,2,3]}}',
    "join": '{"event": "room:join", "ref": 2, "data": {"code": "k7qx2m", "nickname": " ada ", "sinceId": 1039}}',
    "join_no_since": '{"event":"room:join","ref":7,"data":{"code":"K7QX2M","nickname":"ada"}}',
    "join_since_null": '{"event":"room:join","ref":"j","data":{"code":"K7QX2M","nickname":"ada","sinceId":null}}',
    "join_since_zero": '{"event":"room:join","ref":0,"data":{"code":"K7QX2M","nickname":"ada","sinceId":0}}',
    "join_since_max_i64": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"ada","sinceId":9223372036854775807}}',
    "join_since_over_i64": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"ada","sinceId":9223372036854775808}}',
    "join_since_max_u64": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"ada","sinceId":18446744073709551615}}',
    "join_since_over_u64": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"ada","sinceId":18446744073709551616}}',
    "join_since_negative": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":-1}}',
    "join_since_float": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":1.5e300}}',
    "join_since_string": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"x","sinceId":"5"}}',
    "join_control_nick": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"a\\u0007b\\u0000"}}',
    "join_unicode_nick": '{"event":"room:join","ref":1,"data":{"code":"k7qx2m","nickname":"\u00e9\u00e9\u00e9 \U0001F600 \u202e\u0301\u200b"}}',
    "join_long_nick": '{"event":"room:join","ref":1,"data":{"code":"K7QX2M","nickname":"' + "\u00e9" * 33 + '"}}',
    "join_code_lookalikes": '{"event":"room:join","ref":1,"data":{"code":"K7QX2O","nickname":"x"}}',
    "join_code_nonascii": '{"event":"room:join","ref":1,"data":{"code":"\u00c4\u00c4\u00c4","nickname":"x"}}',
    "join_code_number": '{"event":"room:join","ref":"r","data":{"code":5,"nickname":"x"}}',
    "join_data_array": '{"event":"room:join","ref":1,"data":["K7QX2M","ada",3]}',
    "leave": '{"event": "room:leave", "ref": 3, "data": {"code": "K7QX2M"}}',
    "leave_no_data": '{"event":"room:leave","ref":3}',
    "leave_data_null": '{"event":"room:leave","ref":3,"data":null}',
    "send": '{"event": "chat:send", "ref": 4, "data": {"roomCode": "K7QX2M", "content": "  hello\\nworld ", "clientId": "c-9f2e", "sender": "mallory"}}',
    "edit": '{"event":"chat:edit","ref":5,"data":{"roomCode":"K7QX2M","id":1041,"content":" new text "}}',
    "delete": '{"event":"chat:delete","ref":6,"data":{"roomCode":"K7QX2M","id":1041}}',
    "react": '{"event":"reaction:add","ref":7,"data":{"roomCode":"K7QX2M","id":1041,"emoji":"\ud83d\udc4d"}}',
    "unreact_text": '{"event":"reaction:remove","ref":8,"data":{"roomCode":"K7QX2M","id":1,"emoji":"lol"}}',
    "resume_changes": '{"event":"room:join","ref":2,"data":{"code":"K7QX2M","nickname":"ada","sinceId":1039,"sinceChange":212}}',
    "send_no_client_id": '{"event":"chat:send","ref":"a","data":{"roomCode":"K7QX2M","content":"hi"}}',
    "send_client_id_null": '{"event":"chat:send","ref":"a","data":{"roomCode":"K7QX2M","content":"hi","clientId":null}}',
    "send_client_id_empty": '{"event":"chat:send","ref":"a","data":{"roomCode":"K7QX2M","content":"hi","clientId":""}}',
    "send_html": '{"event":"chat:send","ref":9,"data":{"roomCode":"K7QX2M","content":"<script>alert(1)</script>\'; DROP TABLE messages;--"}}',
    "send_escapes": '{"event":"chat:send","ref":9,"data":{"roomCode":"K7QX2M","content":"\\ud83d\\ude00\\t\\r\\n\\b\\f\\/\\\\\\"","clientId":"\\ud800"}}',
    "send_blank": '{"event":"chat:send","ref":9,"data":{"roomCode":"K7QX2M","content":" \\n\\t \u3000 "}}',
    "send_long_content": '{"event":"chat:send","ref":9,"data":{"roomCode":"K7QX2M","content":"' + "x" * 2001 + '"}}',
    "typing_true": '{"event": "typing", "ref": 5, "data": {"roomCode": "K7QX2M", "typing": true}}',
    "typing_false_no_ref": '{"event":"typing","data":{"roomCode":"K7QX2M","typing":false}}',
    "typing_not_bool": '{"event":"typing","ref":5,"data":{"roomCode":"K7QX2M","typing":"yes"}}',
    # envelope faults
    "not_json": "not json",
    "array": "[1,2]",
    "array_positional": '["room:create",1,{}]',
    "number": "42",
    "string": '"x"',
    "empty": "",
    "whitespace_object": ' \t\r\n{"event":"room:create"} \n',
    "trailing_garbage": '{"event":"room:create"}}',
    "two_objects": '{"event":"room:create"}{"event":"room:create"}',
    "ref_float": '{"event":"room:create","ref":1.5}',
    "ref_object": '{"event":"room:create","ref":{}}',
    "ref_bool": '{"event":"room:create","ref":true}',
    "ref_null": '{"event":"room:create","ref":null}',
    "ref_huge": '{"event":"room:create","ref":123456789012345678901234567890}',
    "ref_negative": '{"event":"room:create","ref":-9223372036854775808}',
    "ref_minus_zero": '{"event":"room:create","ref":-0}',
    "ref_exp": '{"event":"room:create","ref":1e3}',
    "ref_unicode": '{"event":"room:create","ref":"\\u00e9\U0001F600\\u0000"}',
    "duplicate_event": '{"event":"room:create","event":"room:join","ref":1}',
    "duplicate_field": '{"event":"room:leave","ref":1,"data":{"code":"K7QX2M","code":"ABCDEF"}}',
    "event_number": '{"event":7,"ref":1}',
    "event_missing": '{"ref":1}',
    "event_unknown": '{"event":"room:nuke","ref":3}',
    "event_escaped": '{"event":"room\\u003acreate","ref":3}',
    "deep_nesting_ok": '{"event":"room:create","x":' + "[" * 120 + "]" * 120 + "}",
    "deep_nesting_over": '{"event":"room:create","x":' + "[" * 200 + "]" * 200 + "}",
    "deep_objects": '{"event":"room:create","x":' + '{"a":' * 130 + "1" + "}" * 130 + "}",
    "big_number": '{"event":"room:create","ref":1,"n":' + "9" * 400 + ".5e-99999}",
    "lone_surrogate_unknown_field": '{"event":"room:create","ref":1,"x":"\\udc00"}',
    "bom": '\ufeff{"event":"room:create"}',
    "nul_inside": '{"event":"room:create"\x00}',
}
for name, text in frames.items():
    write(F, name, text)
# over the 16 KiB frame limit, and a valid frame that is too large
write(F, "over_frame_limit", '{"event":"chat:send","ref":1,"data":{"roomCode":"K7QX2M","content":"' + "y" * 17000 + '"}}')
write(F, "invalid_utf8", b'{"event":"chat:send","ref":1,"data":{"roomCode":"K7QX2M","content":"\xff\xfe\xc3"}}')

H = "http_bodies"
bodies = {
    "post": '{"roomCode":"K7QX2M","sender":"deploy-bot","content":"build 118 is green","clientId":"ci-118"}',
    "post_lower_code": '{"roomCode":"k7qx2m","sender":" bot ","content":" hi "}',
    "post_client_id_null": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","clientId":null}',
    "post_client_id_empty": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","clientId":""}',
    "post_client_id_long": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","clientId":"' + "c" * 65 + '"}',
    "post_missing_sender": '{"roomCode":"K7QX2M","content":"hi"}',
    "post_sender_number": '{"roomCode":"K7QX2M","sender":12,"content":"hi"}',
    "post_sender_control": '{"roomCode":"K7QX2M","sender":"a\\u001bb","content":"hi"}',
    "post_unicode": '{"roomCode":"K7QX2M","sender":"\U0001F916 \u00e9","content":"\u05e9\u05dc\u05d5\u05dd \u202e \ud83d\ude00"}'.encode("utf-16", "surrogatepass").decode("utf-16"),
    "post_escapes": '{"roomCode":"K7QX2M","sender":"\\u0062ot","content":"\\ud83d\\ude00\\n\\t"}',
    "post_lone_surrogate": '{"roomCode":"K7QX2M","sender":"bot","content":"\\ud800"}',
    "post_array": '["K7QX2M","bot","hi"]',
    "post_array_client_id": '["K7QX2M","bot","hi","c-1"]',
    "post_extra_fields": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","extra":{"deep":[1,2,{"x":null}]},"ok":true}',
    "post_duplicate": '{"roomCode":"K7QX2M","roomCode":"ABCDEF","sender":"bot","content":"hi"}',
    "post_null": "null",
    "post_empty_object": "{}",
    "post_empty": "",
    "post_not_json": "roomCode=K7QX2M&sender=bot&content=hi",
    "post_huge_number": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","n":1e400,"m":' + "1" * 300 + "}",
    "post_deep": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","x":' + "[" * 127 + "]" * 127 + "}",
    "post_deep_over": '{"roomCode":"K7QX2M","sender":"bot","content":"hi","x":' + "[" * 200 + "]" * 200 + "}",
    "post_long_content": '{"roomCode":"K7QX2M","sender":"bot","content":"' + "\u00e9" * 2001 + '"}',
    "post_blank_content": '{"roomCode":"K7QX2M","sender":"bot","content":"   \\n "}',
    "post_html": '{"roomCode":"K7QX2M","sender":"<b>x</b>","content":"<img src=x onerror=alert(1)>"}',
    # query strings of GET /api/messages (each input is tried as both)
    "query": "roomCode=K7QX2M&limit=2&beforeId=1042",
    "query_code_only": "roomCode=k7qx2m",
    "query_missing_code": "limit=5",
    "query_empty": "",
    "query_limit_zero": "roomCode=K7QX2M&limit=0",
    "query_limit_negative": "roomCode=K7QX2M&limit=-9223372036854775808",
    "query_limit_huge": "roomCode=K7QX2M&limit=99999999999999999999",
    "query_limit_spaces": "roomCode=K7QX2M&limit=+%2012%20",
    "query_limit_not_int": "roomCode=K7QX2M&limit=1.5",
    "query_before_max": "roomCode=K7QX2M&beforeId=9223372036854775807",
    "query_duplicate": "roomCode=K7QX2M&roomCode=ABCDEF",
    "query_percent": "roomCode=%4B%37QX2M&limit=%32&x=%FF%00%",
    "query_plus_unicode": "roomCode=K7QX2M+&beforeId=%E2%80%AE1&%F0%9F%98%80=1",
    "query_no_values": "roomCode&limit&beforeId=",
    "query_ampersands": "&&&=&=&roomCode==K7QX2M",
}
for name, text in bodies.items():
    write(H, name, text)
write(H, "post_invalid_utf8", b'{"roomCode":"K7QX2M","sender":"bot","content":"\xff\xc0\xaf"}')

# ws_framing: raw client bytes after the upgrade; the first byte picks the chunk size.
import struct
W = "ws_framing"
def ws_frame(payload, op=0x1, fin=True, mask=b"\x01\x02\x03\x04", length=None):
    n = len(payload) if length is None else length
    out = bytes([(0x80 if fin else 0) | op])
    bit = 0x80 if mask is not None else 0
    if n < 126:
        out += bytes([bit | n])
    elif n < 65536:
        out += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask is not None:
        out += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return out + payload
ws_seeds = {
    "one_text": b"\x05" + ws_frame(b'{"event":"room:create"}'),
    "two_texts_one_chunk": b"\xff" + ws_frame(b"{}") + ws_frame(b'{"event":"typing"}'),
    "ping_pong_close": b"\x01" + ws_frame(b"hi", op=0x9) + ws_frame(b"", op=0xA) + ws_frame(b"\x03\xe8", op=0x8),
    "fragments": b"\x03" + ws_frame(b'{"ev', fin=False) + ws_frame(b'ent":1}', op=0x0),
    "medium_126": b"\x10" + ws_frame(b"x" * 300),
    "over_cap_header": b"\x02" + ws_frame(b"", length=5000) + b"\x00" * 64,
    "giant_127": b"\x09" + ws_frame(b"", length=1 << 40) + b"\x00" * 32,
    "unmasked": b"\x04" + ws_frame(b"{}", mask=None),
    "partial_header": b"\x01" + b"\x81\xfe\x00",
    "exactly_cap": b"\x40" + ws_frame(b"y" * 1024),
}
for name, data in ws_seeds.items():
    write(W, name, data)
