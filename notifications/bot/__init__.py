"""The Telegram bot (aiogram 3): the only package that imports aiogram."""
