"""One short function per command and button: parse → authorize → record → ack → enqueue.

A command's answer rides on its ack (Slack shows it to the person who typed). The channel is told through the
Slack outbox (domain/outbox.py): the approval message, its redraws and its thread's notes are recorded in Redis
here and delivered by the worker and clock processes, so no chat.* call sits on a request's path. Buttons ack
at once; a refusal is answered through the response_url. Refusals are raised as typed errors; `describe_error`
is the one place that turns them into what the person reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from logging import Logger

from redis.client import Pipeline
from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import consumer_buttons
from bot.commands import Command, UsageError, parse_command
from bot.deps import (
    DEPS,
    Deps,
    _clicked,
    _header,
    ack_with,
    answering,
    check_click,
    check_clicked_message,
    click_origin,
    clicked_token,
    command_origin,
    describe_error,
    expected_origin,
    on_error,
    reply,
    tell,
    told_and_redrawn,
)
from bot.replays import first_delivery
from domain import (
    actions,
    audit,
    dry_run_plan,
    messages,
    outbox,
    overlap_requests,
    requests,
    thread_notes,
    token_activity,
)
from domain.access import (
    Origin,
    approvals_for,
    check_configured,
    check_denial,
    check_message,
    check_not_management,
    check_origin,
    check_requester,
)
from domain.errors import Replayed
from domain.health_words import PROBLEM_LABELS
from domain.message_parts import split_message
from domain.provision_plan import plan_provisioning
from domain.queueing import enqueue_dry_run, enqueue_overlap_end_in, enqueue_request_in, enqueue_verify
from domain.requests import OverlapEnd, Request
from domain.status import last_rotations, overlap_deadlines, read_statuses

REQUEST_ROLL_REASONS = {  # the reason a one-click roll request carries, by the button that asked for it
    actions.REQUEST_ROLL: "expiry warning",
    actions.REQUEST_REROLL: "re-roll: the last operation on this token could not finish",
    actions.ROLL_AFTER_VERIFY: "verify found a problem",
}
REQUEST_REVOKE_REASON = "Cloudflare marked it compromised (revoked (exposed))"  # a scan alert's or verify's


def register(app: App) -> None:
    """Attach the listeners and the error handler to `app` (a Deps reaches them in each request's context under
    DEPS: bot/app.py puts it there)."""
    app.command("/cftoken")(on_command)
    app.action(actions.APPROVE)(on_approve)
    app.action(actions.DENY)(on_deny)
    app.view(actions.DENY_VIEW)(on_deny_submitted)
    app.action(actions.CANCEL)(on_cancel)
    app.action(actions.OVERLAP_RETIRE_NOW)(on_overlap_end)
    app.action(actions.OVERLAP_KEEP_OLD)(on_overlap_end)
    app.action(actions.REQUEST_ROLL)(on_request_roll)
    app.action(actions.REQUEST_REROLL)(on_request_roll)
    app.action(actions.ROLL_AFTER_VERIFY)(on_request_roll)
    app.action(actions.VERIFY_AGAIN)(on_request_verify)
    app.action(actions.REQUEST_REVOKE)(on_request_revoke)
    app.action(actions.PROVISION_REPLACEMENT)(on_provision_replacement)
    app.action(actions.REQUEST_REAL)(on_request_real)
    consumer_buttons.register(app)  # Retry sync, Done (bot/consumer_buttons.py)
    app.error(on_error)


def on_command(
    ack, command: dict, request: BoltRequest, respond: Respond, client: WebClient, context: dict, logger: Logger
) -> None:
    """`/cftoken …` from our workspace's SRE channel: answered in the ack; the approval message goes to the outbox.

    Nothing before the ack waits on more than the approver-group lookup (LOOKUP_SECONDS, roll/revoke only).
    """
    deps: Deps = context[DEPS]
    try:
        check_origin(command_origin(command), expected_origin(context, deps))
        parsed = parse_command(command["text"], deps.inventory)
        if parsed.verb not in READ_ONLY and not first_delivery(
            deps.redis, signature=_header(request, "x-slack-signature"),
            timestamp=_header(request, "x-slack-request-timestamp"), trigger_id=command.get("trigger_id"),
        ):
            raise Replayed()
        answer_with = queue_dry_run if parsed.dry_run else ANSWERS[parsed.verb]
        answer, follow_up = answer_with(parsed, command["user_id"], deps, client)
    except Exception as error:  # noqa: BLE001 - describe_error answers every error, logging unexpected ones
        ack_with(ack, describe_error(error, client, deps, logger))
        return
    parts = split_message(answer) if answer is not None else []
    ack_with(ack, parts[0] if parts else None)
    with answering(respond, client, context, logger):
        for part in parts[1:]:  # a long list or history: the rest of it, in order, where the first part was shown
            reply(respond, part)
        if follow_up is not None:
            follow_up()
        sweep_expired(deps, client)


def on_approve(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Approve: count the click; the click that completes the approvals queues the job, exactly once, in the
    same transaction as the approval, the message's redraw and the thread's note (one write to Redis)."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        user, approvers = body["user"]["id"], deps.approvers(client, clicked_token(deps, body))

        def record(pipe: Pipeline, request: Request) -> None:
            if request.state == "queued":
                enqueue_request_in(pipe, deps.queue, request.id)
                tell(deps, request, thread_notes.approved(request), "approved", pipe=pipe)
            outbox.redraw_in(pipe, request.id)

        requests.approve(deps.redis, _clicked(body), user=user, approvers=approvers, now=deps.clock(),
                         check=lambda request: check_clicked_message(body, request), queue=True, also=record)


def on_deny(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Deny: an approver other than the requester is asked why in a modal; submitting it ends the request.

    When Slack cannot open the modal (its trigger lasts 3 seconds), the click denies at once, without a reason.
    """
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        request = check_click(body, context, deps)
        user, approvers = body["user"]["id"], deps.approvers(client, request.token if request else None)
        if request is not None and request.state == "pending":
            check_denial(user, requester=request.requester, approvers=approvers)
            try:
                client.views_open(trigger_id=body.get("trigger_id", ""), view=messages.render_deny_modal(request))
                return
            except SlackApiError as exc:
                logger.info("deny %s: no modal (%s); denying without a reason", request.id, exc.response.get("error"))
        requests.deny(deps.redis, _clicked(body), user=user, approvers=approvers, now=deps.clock(),
                      also=lambda pipe, denied: told_and_redrawn(deps, pipe, denied, thread_notes.denied, "denied"))


def on_deny_submitted(ack, body: dict, view: dict, client: WebClient, context: dict, logger: Logger) -> None:
    """The deny modal submitted: the request ends with the reason given; a refusal is told to the denier."""
    reason = str(((view.get("state") or {}).get("values") or {}).get(actions.DENY_REASON, {})
                 .get(actions.DENY_REASON, {}).get("value") or "").strip()
    too_long = messages.reason_too_long(reason)
    if too_long:
        ack(response_action="errors", errors={actions.DENY_REASON: too_long})
        return
    ack()
    deps: Deps = context[DEPS]
    user = body["user"]["id"]
    request = requests.load(deps.redis, str(view.get("private_metadata", "")), now=deps.clock())
    if request is None:
        return
    try:
        team = body.get("team") or {}
        check_origin(Origin(team_id=team.get("id"), enterprise_id=team.get("enterprise_id") or None,
                            app_id=body.get("api_app_id"), channel_id=request.channel),
                     expected_origin(context, deps))
        requests.deny(deps.redis, request.id, user=user, approvers=deps.approvers(client, request.token),
                      now=deps.clock(), reason=reason,
                      also=lambda pipe, denied: told_and_redrawn(deps, pipe, denied, thread_notes.denied, "denied"))
    except Exception as error:  # noqa: BLE001 - a modal has no response_url: the answer goes to the channel
        text, blocks = describe_error(error, client, deps, logger)
        client.chat_postEphemeral(channel=request.channel, user=user, text=text, blocks=blocks)


def on_cancel(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Cancel: the requester withdraws."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        requests.cancel(
            deps.redis, _clicked(body), user=body["user"]["id"], now=deps.clock(),
            check=lambda request: check_clicked_message(body, request),
            also=lambda pipe, cancelled: told_and_redrawn(deps, pipe, cancelled, thread_notes.cancelled, "cancelled"),
        )


OVERLAP_CHOICES: dict[str, OverlapEnd] = {actions.OVERLAP_RETIRE_NOW: "retire_now",
                                          actions.OVERLAP_KEEP_OLD: "keep_old"}


def on_overlap_end(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Retire old now / Keep old on a waiting overlap roll: an approver's choice, recorded once with the job that acts
    on it at once, the message's redraw and the thread's note (one transaction)."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        user, approvers = body["user"]["id"], deps.approvers(client, clicked_token(deps, body))

        def record(pipe: Pipeline, request: Request) -> None:
            enqueue_overlap_end_in(pipe, deps.queue, request.id)
            tell(deps, request, thread_notes.overlap_chosen(request), "overlap_end", pipe=pipe)
            outbox.redraw_in(pipe, request.id)

        choice = OVERLAP_CHOICES[body["actions"][0]["action_id"]]
        overlap_requests.end_overlap(deps.redis, _clicked(body), choice=choice, user=user, approvers=approvers,
                                     now=deps.clock(), check=lambda request: check_clicked_message(body, request),
                                     also=record)


def on_request_roll(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """A "Request roll" button (an expiry warning, an interrupted operation): the clicker opens the normal
    two-person roll request."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        token = deps.inventory.find(_clicked(body))
        if token is None:
            raise UsageError(f"The token `{messages.echo(_clicked(body))}` is no longer in the inventory.")
        command = Command("roll", token, _request_roll_reason(body["actions"][0]))
        open_for_approval(command, body["user"]["id"], deps, client)
        mark_button_used(deps, body, f":inbox_tray: Roll requested by <@{body['user']['id']}> "
                                       f"{messages.slack_date(deps.clock())}.")


def _request_roll_reason(action: dict) -> str:
    """The reason a one-click roll carries: its button's, or the problem a scan alert's section names."""
    kind = actions.alert_kind(str(action.get("block_id") or ""))
    if action["action_id"] == actions.REQUEST_ROLL and kind in PROBLEM_LABELS:
        return f"scan alert: {PROBLEM_LABELS[kind]}"
    return REQUEST_ROLL_REASONS[action["action_id"]]


def on_request_verify(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """The "Verify" button on a scan alert: queue verify NAME for the clicker, as `/cftoken verify NAME` does."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        token = _clicked_token(deps, body)
        message, enqueue = queue_verify(Command("verify", token, ""), body["user"]["id"], deps, client)
        if message is not None:
            reply(respond, message)
        if enqueue is not None:
            enqueue()


def on_request_revoke(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """The "Request revoke" button on a compromised-token alert: the clicker opens the normal revoke request."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        command = Command("revoke", _clicked_token(deps, body), REQUEST_REVOKE_REASON)
        open_for_approval(command, body["user"]["id"], deps, client)
        mark_button_used(deps, body, f":inbox_tray: Revoke requested by <@{body['user']['id']}> "
                                       f"{messages.slack_date(deps.clock())}.")


def on_provision_replacement(ack, body: dict, respond: Respond, client: WebClient, context: dict,
                             logger: Logger) -> None:
    """"Provision replacement" on a finished revoke: the clicker opens a two-person provision of the same token."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        revoke = replaceable_revoke(deps, _clicked(body))
        check_message(clicked_channel=(body.get("container") or {}).get("channel_id"),
                      clicked_ts=(body.get("container") or {}).get("message_ts"),
                      request_channel=revoke.channel, request_ts=revoke.message_ts)
        token = deps.inventory.find(revoke.token)
        if token is None:
            raise UsageError(f"The token `{messages.escape(revoke.token)}` is no longer in the inventory.")
        command = Command("provision", token, f"replacement for {revoke.id}")
        open_for_approval(command, body["user"]["id"], deps, client, replaces=revoke.id)


def replaceable_revoke(deps: Deps, revoke_id: str, token: str | None = None) -> requests.Request:
    """The finished revoke a provision may replace (of `token`, when given); UsageError saying why not."""
    revoke = requests.load(deps.redis, revoke_id, now=deps.clock())
    if revoke is None or revoke.action != "revoke" or revoke.state != "succeeded" or token not in (None, revoke.token):
        raise UsageError("That button belongs to a revoke that did not finish; nothing was opened.")
    if revoke.replaced_by:
        raise UsageError(f"{revoke.token} was already replaced by `{revoke.replaced_by}`; nothing was opened.")
    return revoke


def on_request_real(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """"Request roll|revoke|provision" under a dry run: the clicker opens the real two-person request, as typing
    the command without --dry-run would."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        asked = dry_run_plan.read_button_value(_clicked(body))
        if asked is None:
            raise UsageError("That button does not name an operation; type the command instead.")
        action, name, reason = asked
        token = deps.inventory.find(name)
        if token is None:
            raise UsageError(f"The token `{messages.echo(name)}` is no longer in the inventory.")
        if action == "revoke" and not reason.strip():
            raise UsageError(f"A revoke needs a reason: type `/cftoken revoke {token.name} REASON`.")
        too_long = messages.reason_too_long(reason)  # the bot's own buttons never carry one; a forged one may
        if too_long:
            raise UsageError(f"{too_long} Type `/cftoken {action} {token.name} REASON` with a shorter one.")
        command = Command(action, token, reason)  # type: ignore[arg-type]
        replaces = dry_run_plan.button_replaces(_clicked(body)) if action == "provision" else None
        if replaces is not None:
            replaces = replaceable_revoke(deps, replaces, token.name).id
        open_for_approval(command, body["user"]["id"], deps, client, replaces=replaces)
        mark_button_used(deps, body, f":inbox_tray: {dry_run_plan.VERBS[action]} requested by <@{body['user']['id']}> "
                                       f"{messages.slack_date(deps.clock())}.")


def mark_button_used(deps: Deps, body: dict, note: str) -> None:
    """Redraw the clicked message with the pressed button replaced by `note` (the digest then shows the roll was
    asked for); a message Slack did not send with the click is left as it is."""
    message, container = body.get("message"), body.get("container") or {}
    if not message or not message.get("blocks"):
        return
    action = body["actions"][0]
    blocks = messages.mark_requested(message["blocks"], action["action_id"], str(action.get("value", "")), note)
    ts = str(container.get("message_ts") or "")
    if ts and container.get("channel_id") == deps.settings.cftoken_channel_id:
        outbox.post(deps.redis, f"pressed:{ts}:{action['action_id']}:{action.get('value', '')}",
                    message.get("text") or note, blocks, update_ts=ts, now=deps.clock())


def _clicked_token(deps: Deps, body: dict):
    token = deps.inventory.find(_clicked(body))
    if token is None:
        raise UsageError(f"The token `{messages.echo(_clicked(body))}` is no longer in the inventory.")
    return token


# Each command's answer: the message for the ack (None: a bare ack) and what to do after the ack (or None).
Answer = tuple[messages.Message | None, Callable[[], None] | None]


def show_help(command: Command, user: str, deps: Deps, client: WebClient) -> Answer:
    return messages.render_help(deps.inventory, deps.shown_approvers(client)), None


def show_list(command: Command, user: str, deps: Deps, client: WebClient) -> Answer:
    rotations = last_rotations(deps.redis, deps.inventory.names)
    retiring = overlap_deadlines(deps.redis, deps.inventory.names)
    return messages.render_list(deps.inventory, read_statuses(deps.redis), deps.clock(), rotations, retiring), None


def show_history(command: Command, user: str, deps: Deps, client: WebClient) -> Answer:
    assert command.token is not None
    per_page, page = audit.HISTORY_LENGTH, command.page
    events = audit.recent(deps.redis, command.token.name, count=page * per_page + 1)
    shown = events[(page - 1) * per_page : page * per_page]
    more = len(events) > page * per_page
    text, blocks = messages.render_history(command.token, shown, page=page, per_page=per_page, more=more)
    activity = token_activity.load_activity(deps.redis, command.token.name) if page == 1 else None
    if activity is not None and len(blocks) < messages.MAX_BLOCKS:  # what Cloudflare's audit log said, per verify
        blocks = [*blocks, token_activity.history_block(activity)]
    return (text, blocks), None


def queue_verify(command: Command, user: str, deps: Deps, client: WebClient) -> Answer:
    """The notice goes first (in the ack); the job is queued after it, so the report can never arrive before it."""
    token = command.token
    assert token is not None

    def enqueue() -> None:
        with deps.redis.pipeline() as pipe:  # the job and its audit event, in one write
            enqueue_verify(deps.queue, name=token.name, requested_by=user, pipeline=pipe)
            audit.append(pipe, audit.AuditEvent(at=deps.clock(), who=user, event="verify", token=token.name))
            pipe.execute()

    return messages.render_verify_queued(token), enqueue


def queue_dry_run(command: Command, user: str, deps: Deps, client: WebClient) -> Answer:
    """`… --dry-run`: no approval and no request; the worker runs the read-only pre-flight and posts the plan."""
    token = command.token
    assert token is not None and command.verb in ("roll", "revoke", "provision")
    if command.verb != "provision":
        check_not_management(token, deps.inventory, command.verb)

    def enqueue() -> None:
        enqueue_dry_run(deps.queue, action=command.verb, name=token.name, requested_by=user, reason=command.reason)

    return messages.render_notice(
        f"Dry run of {command.verb} {token.name} queued: the worker runs every read-only pre-flight check and posts "
        "the plan in this channel. Nothing changes anywhere, and no approval is needed."
    ), enqueue


def open_for_approval(command: Command, user: str, deps: Deps, client: WebClient, *,
                      replaces: str | None = None) -> Answer:
    """Record a pending roll/revoke/provision and hand its approval message to the outbox; the ack says what
    comes next."""
    assert command.token is not None and command.verb in ("roll", "revoke", "provision")
    if command.verb == "provision":
        plan_provisioning(command.token, deps.inventory)  # CannotProvision names what to fix in the inventory
    else:
        check_not_management(command.token, deps.inventory, command.verb)
    check_requester(user, deps.approvers(client, command.token.name), command.verb)
    check_configured(deps.settings, command.verb)

    def announce(pipe: Pipeline, request: Request) -> None:
        outbox.redraw_in(pipe, request.id)  # a request without a message gets it posted
        tell(deps, request, thread_notes.opened(request, deps.configured_approvers(request.token)), "opened",
             pipe=pipe)  # the first reply asks this token's approvers

    request = requests.open_request(
        deps.redis, action=command.verb, token=command.token.name, requester=user, reason=command.reason,
        needed=approvals_for(command.token, command.verb, deps.settings), channel=deps.settings.cftoken_channel_id,
        ttl=timedelta(minutes=deps.settings.cftoken_request_ttl_minutes), now=deps.clock(), replaces=replaces,
        also=announce, owner=command.token.owner,
    )
    return messages.render_notice(
        f":inbox_tray: Your {request.action} of *{request.token}* is open (request `{request.id}`). Its approval "
        "message appears in this channel in a moment; the approvers are asked in its thread."
    ), None


ANSWERS = {
    "help": show_help,
    "list": show_list,
    "history": show_history,
    "verify": queue_verify,
    "roll": open_for_approval,
    "revoke": open_for_approval,
    "provision": open_for_approval,
}
READ_ONLY = frozenset({"help", "list", "history"})  # answered again when replayed; every other verb acts once


def sweep_expired(deps: Deps, client: WebClient) -> None:
    """Take the buttons off requests that expired unattended and tell their requesters (the clock does too)."""
    for request in requests.expire_overdue(deps.redis, now=deps.clock()):
        outbox.redraw(deps.redis, request.id)
        tell(deps, request, thread_notes.expired(request), "expired")


