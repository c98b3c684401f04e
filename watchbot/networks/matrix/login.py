"""`watchbot login matrix`: trade a password, asked once, for an access token kept in the env file
(the command line writes it there)."""

from __future__ import annotations

from dataclasses import dataclass

from nio import AsyncClient, AsyncClientConfig, LoginResponse

DEVICE_NAME = "watchbot"


class LoginFailed(Exception):
    """The homeserver refused the login; the message says why, in one sentence."""


@dataclass(frozen=True)
class MatrixLogin:
    homeserver: str
    user_id: str
    access_token: str
    device_id: str

    def as_settings(self) -> dict[str, str]:
        """The settings this login gives the bot, as the env file names them."""
        return {
            "WATCHBOT_MATRIX_HOMESERVER": self.homeserver,
            "WATCHBOT_MATRIX_USER_ID": self.user_id,
            "WATCHBOT_MATRIX_ACCESS_TOKEN": self.access_token,
            "WATCHBOT_MATRIX_DEVICE_ID": self.device_id,
        }


async def log_in(homeserver: str, user: str, password: str, device_id: str | None = None) -> MatrixLogin:
    """Log in with a password. Given the bot's device id, the same device is logged in again, so
    its history (and, later, its encryption keys) stay with it."""
    config = AsyncClientConfig(max_timeouts=2, encryption_enabled=False)
    client = AsyncClient(homeserver.rstrip("/"), user, device_id=device_id or "", store_path=None, config=config)
    try:
        response = await client.login(password, device_name=DEVICE_NAME)
    except Exception as error:  # noqa: BLE001 -- a homeserver that cannot be reached, a bad URL
        raise LoginFailed(f"could not reach {homeserver}: {error}") from None
    finally:
        await client.close()
    if not isinstance(response, LoginResponse):
        raise LoginFailed(f"the homeserver refused the login: {getattr(response, 'message', response)}")
    return MatrixLogin(homeserver.rstrip("/"), response.user_id, response.access_token, response.device_id)
