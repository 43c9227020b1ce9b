"""Slack's rules for a message or a modal, as Slack applies them before it posts anything.

slack_sdk's `slack_sdk.models.blocks` classes carry most limits (`Block.parse(...).validate_json()`: section text
3,000, 10 fields, header 150, button text 75 and value 2,000, action_id and block_id 255, context 10 elements,
confirm dialogs, modal title 24); this module walks the JSON so each problem names its path, runs those
validators on every block, element and text object, and adds what they lack: a field's 2,000 characters, text of
at least one character, required text objects and their types, known block and element types, unique action_ids
within a block and unique block_ids within a message, 50 blocks per message and 40,000 characters of top-level
text; and for elements the bot may adopt: option text ≤ 75 and value ≤ 150 characters, `table` ≤ 100 rows of ≤ 20
cells, `markdown` blocks ≤ 12,000 characters together, rich-text elements from Slack's closed sets, and
`plain_text_input` `max_length`/`min_length` ≤ 3,000. Problems read as Slack's do:
`[ERROR] <what> [json-pointer:/blocks/3/text/text]`.

Slack also refuses a message whose blocks together carry too much text, each block within its own limits, with
`msg_blocks_too_long` (slackapi/bolt-js #2509, #2867; no documented number: refused at 11,341 measured characters,
the folklore says "about 12,000"). Counted here: the characters of every `text` string anywhere in the blocks (text
objects, context elements, button labels, rich-text and table cells, markdown blocks), and refused past
MAX_BLOCKS_TEXT = 11,000, below the smallest refusal on record.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block, BlockElement, ConfirmObject, TextObject
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_TEXT = 40_000  # top-level `text`: past it Slack answers msg_too_long
MAX_BLOCKS_TEXT = 11_000  # all blocks' text together: past it msg_blocks_too_long (refused at 11,341 on record)
OPTION_TEXT, OPTION_VALUE = 75, 150
TABLE_ROWS, TABLE_CELLS = 100, 20
MARKDOWN_TOTAL = 12_000  # the text of all markdown blocks in one message together
INPUT_MAX_LENGTH = 3000  # plain_text_input's max_length (and min_length) at most
RICH_TEXT_BLOCK_ELEMENTS = ("rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote")
RICH_TEXT_ELEMENTS = ("text", "link", "emoji", "user", "usergroup", "channel", "broadcast", "date", "color")
SECTION_TEXT = 3000
FIELD_TEXT = 2000
HEADER_TEXT = 150
TEXT_TYPES = ("plain_text", "mrkdwn")
MESSAGE_BLOCKS = ("section", "divider", "image", "actions", "context", "header", "rich_text", "table", "video",
                  "file", "markdown", "input")
MODAL_BLOCKS = ("section", "divider", "image", "actions", "context", "header", "rich_text", "input", "video",
                "markdown")
ACTION_ELEMENTS = ("button", "static_select", "multi_static_select", "external_select", "multi_external_select",
                   "users_select", "multi_users_select", "conversations_select", "multi_conversations_select",
                   "channels_select", "multi_channels_select", "overflow", "datepicker", "timepicker",
                   "datetimepicker", "checkboxes", "radio_buttons", "workflow_button", "rich_text_input",
                   "plain_text_input", "email_text_input", "url_text_input", "number_input")
ACCESSORY_ELEMENTS = (*ACTION_ELEMENTS, "image")
CONTEXT_ELEMENTS = ("image", "plain_text", "mrkdwn")


class Refused(Exception):
    """What Slack answers instead of posting: an error code and, for invalid_blocks, the problems by path."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error if not messages else f"{error}: {'; '.join(messages)}")
        self.error, self.messages = error, list(messages or [])

    def body(self) -> dict[str, Any]:
        """Slack's `ok: false` body for this refusal."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def check_message(text: Any, blocks: Any) -> None:
    """Raise Refused as chat.postMessage / chat.update / a response_url would for this text and blocks."""
    if not text and not blocks:
        raise Refused("no_text")
    if not isinstance(text, str):
        raise Refused("invalid_arguments", [_error("must be a string", "/text")])
    if len(text) > MAX_TEXT:
        raise Refused("msg_too_long")
    if blocks and not isinstance(blocks, list):
        raise Refused("invalid_blocks_format")
    if blocks:
        problems = block_problems(blocks, allowed=MESSAGE_BLOCKS, most=MAX_MESSAGE_BLOCKS)
        problems += _markdown_total(blocks)
        if problems:
            raise Refused("invalid_blocks", problems)
        if blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
            raise Refused("msg_blocks_too_long")


def blocks_text_length(value: Any) -> int:
    """Characters of every `text` string anywhere inside `value` (the blocks of a message)."""
    if isinstance(value, list):
        return sum(blocks_text_length(item) for item in value)
    if not isinstance(value, dict):
        return 0
    own = len(value["text"]) if isinstance(value.get("text"), str) else 0
    return own + sum(blocks_text_length(item) for key, item in value.items() if not isinstance(item, str))


def check_view(view: Any) -> None:
    """Raise Refused as views.open would for this view: `invalid_arguments`, problems by path under /view."""
    if not isinstance(view, dict):
        raise Refused("invalid_arguments", [_error("must be an object", "/view")])
    problems = _sdk_problems(lambda: View(**view), "/view") if view.get("type") == "modal" else []
    if view.get("type") != "modal":
        problems.append(_error("must be one of modal, home", "/view/type"))
    for key in ("title", "submit", "close"):
        if key in view or key == "title":
            problems += _text_problems(view.get(key), f"/view/{key}", most=24, types=("plain_text",))
    blocks = view.get("blocks")
    problems += block_problems(blocks, allowed=MODAL_BLOCKS, most=MAX_MODAL_BLOCKS, root="/view/blocks")
    if isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
        if "submit" not in view:
            problems.append(_error("submit is required when the view has an input block", "/view/submit"))
    if problems:
        raise Refused("invalid_arguments", problems)


def block_problems(blocks: Any, *, allowed: tuple[str, ...], most: int, root: str = "/blocks") -> list[str]:
    """Every problem Slack would name in `blocks`, each with its json-pointer."""
    if not isinstance(blocks, list) or not blocks:
        return [_error("must provide an array of at least 1 block", root)]
    problems = [_error(f"no more than {most} items allowed", root)] if len(blocks) > most else []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        path = f"{root}/{i}"
        if not isinstance(block, dict) or block.get("type") not in allowed:
            kind = block.get("type") if isinstance(block, dict) else None
            problems.append(_error(f"unsupported type: {kind}", f"{path}/type"))
            continue
        block_id = block.get("block_id")
        if block_id is not None and block_id in block_ids:
            problems.append(_error(f"duplicate block_id: {block_id}", f"{path}/block_id"))
        if block_id is not None:
            block_ids.add(block_id)
        own = _BLOCK_RULES.get(block["type"], _no_rules)(block, path)
        problems += own or _sdk_problems(lambda b=block: Block.parse(b), path)
    return problems


def _section(block: dict[str, Any], path: str) -> list[str]:
    problems = []
    if "text" not in block and "fields" not in block:
        problems.append(_error("must provide text or fields", path))
    if "text" in block:
        problems += _text_problems(block["text"], f"{path}/text", most=SECTION_TEXT)
    fields = block.get("fields", [])
    if not isinstance(fields, list) or ("fields" in block and not fields):
        problems.append(_error("must provide an array of at least 1 item", f"{path}/fields"))
        fields = []
    for j, field in enumerate(fields):
        problems += _text_problems(field, f"{path}/fields/{j}", most=FIELD_TEXT)
    if "accessory" in block:
        problems += _element_problems(block["accessory"], f"{path}/accessory", ACCESSORY_ELEMENTS)
    return problems


def _header(block: dict[str, Any], path: str) -> list[str]:
    return _text_problems(block.get("text"), f"{path}/text", most=HEADER_TEXT, types=("plain_text",))


def _context(block: dict[str, Any], path: str) -> list[str]:
    return _elements(block, path, CONTEXT_ELEMENTS)


def _actions(block: dict[str, Any], path: str) -> list[str]:
    return _elements(block, path, ACTION_ELEMENTS)


def _elements(block: dict[str, Any], path: str, allowed: tuple[str, ...]) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [_error("must provide an array of at least 1 element", f"{path}/elements")]
    problems: list[str] = []
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        element_path = f"{path}/elements/{j}"
        problems += _element_problems(element, element_path, allowed)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is not None and action_id in action_ids:
            problems.append(_error(f"duplicate action_id: {action_id}", f"{element_path}/action_id"))
        if action_id is not None:
            action_ids.add(action_id)
    return problems


def _element_problems(element: Any, path: str, allowed: tuple[str, ...]) -> list[str]:
    if not isinstance(element, dict) or element.get("type") not in allowed:
        kind = element.get("type") if isinstance(element, dict) else None
        return [_error(f"unsupported type: {kind}", f"{path}/type")]
    if element["type"] in TEXT_TYPES:
        return _text_problems(element, path, most=None)
    problems: list[str] = []
    if element["type"] == "button":
        problems += _text_problems(element.get("text"), f"{path}/text", most=75, types=("plain_text",))
        if "value" in element and not element["value"]:
            problems.append(_error("must be more than 0 characters", f"{path}/value"))
    if "action_id" in element and not element["action_id"]:
        problems.append(_error("must be more than 0 characters", f"{path}/action_id"))
    problems += _option_problems(element, path) + _input_problems(element, path)
    if "confirm" in element:
        problems += _confirm_problems(element["confirm"], f"{path}/confirm")
    return problems or _sdk_problems(lambda: BlockElement.parse(element), path)


def _confirm_problems(confirm: Any, path: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [_error("must provide an object", path)]
    problems: list[str] = []
    for key in ("title", "text", "confirm", "deny"):
        types = TEXT_TYPES if key == "text" else ("plain_text",)
        problems += _text_problems(confirm.get(key), f"{path}/{key}", most=None, types=types)
    return problems or _sdk_problems(lambda: ConfirmObject.parse(confirm), path)


def _text_problems(obj: Any, path: str, *, most: int | None, types: tuple[str, ...] = TEXT_TYPES) -> list[str]:
    """A text object: present, of an allowed type, with 1..`most` characters of text."""
    if not isinstance(obj, dict):
        return [_error("must provide an object", path)]
    if obj.get("type") not in types:
        return [_error(f"must be one of {', '.join(types)}", f"{path}/type")]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [_error("must be more than 0 characters", f"{path}/text")]
    if most is not None and len(text) > most:
        return [_error(f"must be less than {most + 1} characters", f"{path}/text")]
    return _sdk_problems(lambda: TextObject.parse(obj), path)


def _sdk_problems(build: Any, path: str) -> list[str]:
    """slack_sdk's own validators for one object, its complaint pointed at the attribute it names."""
    try:
        model = build()
        if model is not None:
            model.validate_json()
    except SlackObjectFormationError as exc:
        attribute = str(exc).split(" ", 1)[0]
        pointer = f"{path}/{attribute}" if attribute.isidentifier() and attribute != "text_or_fields" else path
        return [_error(str(exc), pointer)]
    except (TypeError, KeyError, AttributeError, ValueError) as exc:
        return [_error(f"malformed object ({type(exc).__name__})", path)]
    return []


def _no_rules(block: dict[str, Any], path: str) -> list[str]:
    return []


def _option_problems(element: dict[str, Any], path: str) -> list[str]:
    """Options of a select, overflow, checkboxes or radio buttons (also inside option_groups): text ≤ 75, value
    ≤ 150 characters."""
    found: list[tuple[str, Any]] = [(f"{path}/options/{i}", o) for i, o in enumerate(element.get("options") or [])]
    for g, group in enumerate(element.get("option_groups") or []):
        options = group.get("options") if isinstance(group, dict) else None
        found += [(f"{path}/option_groups/{g}/options/{i}", o) for i, o in enumerate(options or [])]
    problems: list[str] = []
    for where, option in found:
        if not isinstance(option, dict):
            problems.append(_error("must provide an object", where))
            continue
        problems += _text_problems(option.get("text"), f"{where}/text", most=OPTION_TEXT)
        value = option.get("value")
        if not isinstance(value, str) or not value:
            problems.append(_error("must be more than 0 characters", f"{where}/value"))
        elif len(value) > OPTION_VALUE:
            problems.append(_error(f"must be less than {OPTION_VALUE + 1} characters", f"{where}/value"))
    return problems


def _input_problems(element: dict[str, Any], path: str) -> list[str]:
    if element.get("type") != "plain_text_input":
        return []
    problems = []
    for key in ("max_length", "min_length"):
        length = element.get(key)
        if length is not None and (not isinstance(length, int) or not 0 <= length <= INPUT_MAX_LENGTH):
            problems.append(_error(f"must be at most {INPUT_MAX_LENGTH}", f"{path}/{key}"))
    return problems


def _input(block: dict[str, Any], path: str) -> list[str]:
    problems = _text_problems(block.get("label"), f"{path}/label", most=2000, types=("plain_text",))
    return problems + _element_problems(block.get("element"), f"{path}/element", ACTION_ELEMENTS)


def _table(block: dict[str, Any], path: str) -> list[str]:
    rows = block.get("rows")
    if not isinstance(rows, list) or not rows:
        return [_error("must provide an array of at least 1 row", f"{path}/rows")]
    problems = [_error(f"no more than {TABLE_ROWS} items allowed", f"{path}/rows")] if len(rows) > TABLE_ROWS else []
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not row:
            problems.append(_error("must provide an array of at least 1 cell", f"{path}/rows/{r}"))
        elif len(row) > TABLE_CELLS:
            problems.append(_error(f"no more than {TABLE_CELLS} items allowed", f"{path}/rows/{r}"))
    return problems


def _markdown(block: dict[str, Any], path: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        return [_error("must be more than 0 characters", f"{path}/text")]
    if len(text) > MARKDOWN_TOTAL:
        return [_error(f"must be less than {MARKDOWN_TOTAL + 1} characters", f"{path}/text")]
    return []


def _markdown_total(blocks: list[Any]) -> list[str]:
    """All markdown blocks of one message together carry at most 12,000 characters."""
    total = sum(len(b.get("text") or "") for b in blocks if isinstance(b, dict) and b.get("type") == "markdown"
                and isinstance(b.get("text"), str))
    if total > MARKDOWN_TOTAL:
        return [_error(f"the markdown blocks together must be less than {MARKDOWN_TOTAL + 1} characters",
                       "/blocks")]
    return []


def _rich_text(block: dict[str, Any], path: str) -> list[str]:
    """A rich_text block's elements, and theirs, from Slack's closed sets of types."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [_error("must provide an array of at least 1 element", f"{path}/elements")]
    problems: list[str] = []
    for i, element in enumerate(elements):
        where = f"{path}/elements/{i}"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in RICH_TEXT_BLOCK_ELEMENTS:
            problems.append(_error(f"unsupported type: {kind}", f"{where}/type"))
            continue
        allowed = ("rich_text_section",) if kind == "rich_text_list" else RICH_TEXT_ELEMENTS
        for j, inner in enumerate(element.get("elements") or []):
            inner_kind = inner.get("type") if isinstance(inner, dict) else None
            if inner_kind not in allowed:
                problems.append(_error(f"unsupported type: {inner_kind}", f"{where}/elements/{j}/type"))
    return problems


def _error(what: str, pointer: str) -> str:
    return f"[ERROR] {what} [json-pointer:{pointer}]"


_BLOCK_RULES = {"section": _section, "header": _header, "context": _context, "actions": _actions, "table": _table,
                "markdown": _markdown, "rich_text": _rich_text, "input": _input}
