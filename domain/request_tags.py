"""The signed form of a request record (domain/requests.py): its JSON plus an HMAC `tag` (domain/integrity.py).

The tag covers every field, the approval binding's too (the token id its pre-flight bound, the owner kind). Fields
added after records were first signed are left out of the signed bytes while unset (`owner` while "user"), so a
record written before them still verifies, and its tag covers that they are unset.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain import integrity
from domain.errors import RecordTampered

log = logging.getLogger("domain.requests")
LATER_FIELDS = ("retire_at", "overlap_end", "overlap_end_by", "overlap_end_at", "token_id")
Record = TypeVar("Record", bound=BaseModel)


def payload(request: Any) -> str:
    """The signed JSON of a request record."""
    unset = {name for name in LATER_FIELDS if getattr(request, name) is None}
    return request.model_dump_json(exclude=unset | ({"owner"} if request.owner == "user" else set()))


def signed(request: Any) -> str:
    """The stored form: the record's JSON plus `tag`, its HMAC under the key that is not in Redis."""
    body = payload(request)
    tag = integrity.tag(integrity.process_key(), "request", request.id, body.encode())
    return json.dumps({**json.loads(body), "tag": tag})


def verified(raw: bytes, request_id: str, model: type[Record]) -> Record:
    """The record stored under `request_id`; RecordTampered (logged) unless cftoken wrote it, tag and all."""
    try:
        data = json.loads(raw)
        claimed = data.pop("tag", None) if isinstance(data, dict) else None
        request: Any = model.model_validate(data)
    except (ValueError, ValidationError) as exc:
        error = RecordTampered(f"The request record {request_id} is not one cftoken wrote", record_id=request_id)
        log.error("refused: %s (%s)", error, type(exc).__name__)
        raise error from None
    try:
        if request.id != request_id:
            raise RecordTampered(f"The request record {request_id} holds request {request.id}", record_id=request_id)
        integrity.check_signed("request", request_id, payload(request).encode(), claimed)
    except RecordTampered as exc:
        exc.token = request.token
        log.error("refused: %s", exc)
        raise
    return request
