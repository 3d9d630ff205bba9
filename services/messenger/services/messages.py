"""Messages and the shop's sending policy: save (checked whole: templates compile, LINE
content meets LINE's spec, the sender is a verified SES identity), read, and the sender
identity a shop's messages go out under."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from messenger.channels.line import check_content as check_line_content
from messenger.domain.builtin import BUILTIN_PREFIX, builtin_message
from messenger.domain.message import Message
from messenger.domain.policy import ShopPolicy
from messenger.domain.rendering import check_message
from messenger.domain.sender import SenderIdentity
from messenger.services.ports import MessageRepository
from shared.errors import DependencyFailed, InvalidInput, NotFound


@dataclass(frozen=True)
class MessageLibrary:
    messages: MessageRepository
    sender: SenderIdentity
    """The platform's sender identity, for shops that set none of their own."""
    verified_sender: Callable[[str], bool]
    """Whether SES may send from an address (it or its domain is a verified identity)."""

    def save(self, message: Message) -> Message:
        message.validate()
        check_message(message)
        if message.line is not None:
            check_line_content(message.line, message.shop_id)
        self.messages.save(message)
        return message

    def get(self, shop_id: str, message_id: str) -> Message:
        found = self.find(shop_id, message_id)
        if found is None:
            raise NotFound(f"no message {message_id!r}", field="message_id")
        return found

    def find(self, shop_id: str, message_id: str) -> Message | None:
        if message_id.startswith(BUILTIN_PREFIX):
            return builtin_message(shop_id, message_id)
        return self.messages.get(shop_id, message_id)

    def policy(self, shop_id: str) -> ShopPolicy:
        return self.messages.policy(shop_id)

    def save_policy(self, shop_id: str, policy: ShopPolicy) -> ShopPolicy:
        """A sender SES cannot send from is refused now, not every mail of the shop later."""
        policy.validate()
        if policy.sender is not None:
            try:
                verified = self.verified_sender(policy.sender.email)
            except Exception as err:
                raise DependencyFailed(
                    "could not check the sender with SES; try again", field="sender.email"
                ) from err
            if not verified:
                raise InvalidInput(
                    "sender.email is not a verified SES identity: verify the address or its "
                    "domain in Amazon SES first",
                    field="sender.email",
                )
        self.messages.save_policy(shop_id, policy)
        return policy

    def sender_of(self, shop_id: str) -> SenderIdentity:
        """The shop's own identity if it set one (the policy is cached), else the platform's."""
        return self.messages.policy(shop_id).sender or self.sender
