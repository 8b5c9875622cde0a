"""An echo bot on matrix-nio, equivalent to parachute's echo setup, for the side-by-side
benchmark: joins every invite, answers every m.text in joined rooms (not its own, not from
before it started) with the same text as a reply. Usage:
    python nio_echo_bot.py HOMESERVER USER_ID ACCESS_TOKEN DEVICE_ID
"""
import asyncio
import sys
import time

from nio import AsyncClient, InviteMemberEvent, MatrixRoom, RoomMessageText


async def main() -> None:
    homeserver, user_id, token, device_id = sys.argv[1:5]
    client = AsyncClient(homeserver, user_id, device_id=device_id)
    client.access_token = token
    client.user_id = user_id
    started_ms = int(time.time() * 1000)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == user_id or event.server_timestamp < started_ms:
            return
        content = {
            "msgtype": "m.text",
            "body": event.body,
            "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
        }
        await client.room_send(room.room_id, "m.room.message", content)

    client.add_event_callback(on_invite, InviteMemberEvent)
    client.add_event_callback(on_message, RoomMessageText)
    print("ready", flush=True)
    await client.sync_forever(timeout=30000, full_state=False)


if __name__ == "__main__":
    asyncio.run(main())
