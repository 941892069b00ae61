"""Cards (plain data from ``notifications.cards``) → Telegram inline keyboards."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from notifications.cards import Card


def markup(card: Card) -> InlineKeyboardMarkup | None:
    if not card.buttons:
        return None
    rows = [
        [InlineKeyboardButton(text=b.text, url=b.url) if b.url else InlineKeyboardButton(text=b.text, callback_data=b.callback)
         for b in row]
        for row in card.buttons
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
