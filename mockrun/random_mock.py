"""A faithful pulumi-random (4.x = terraform-provider-random) mock for the resources we use.

Real random values from `secrets`; the provider's validation (length >= 1 and >= the sum of the
minimums, at least one character class) and its ids, which matter for secrecy:
RandomString's id IS its result (never use it for a secret: ids are stored and shown in the
clear), RandomPassword's and RandomBytes' id is the constant "none".
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from typing import Any

from mockrun.mocks import resource_handler
from mockrun.tls_mock import ProviderError

DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def _flag(inputs: dict[str, Any], key: str) -> bool:
    value = inputs.get(key)
    return True if value is None else bool(value)


def random_string(inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """createRandomString: the minimums first, the rest from every enabled class, shuffled."""
    length = inputs.get("length")
    if length is None:
        raise ProviderError("the argument 'length' is required")
    length = int(length)
    numeric = _flag(inputs, "numeric") and _flag(inputs, "number")
    classes = {
        "upper": (_flag(inputs, "upper"), string.ascii_uppercase, int(inputs.get("minUpper") or 0)),
        "lower": (_flag(inputs, "lower"), string.ascii_lowercase, int(inputs.get("minLower") or 0)),
        "numeric": (numeric, string.digits, int(inputs.get("minNumeric") or 0)),
        "special": (
            _flag(inputs, "special"),
            inputs.get("overrideSpecial") or DEFAULT_SPECIAL,
            int(inputs.get("minSpecial") or 0),
        ),
    }
    minimum = sum(m for _, _, m in classes.values())
    if length < 1 or length < minimum:
        raise ProviderError(
            f"length ({length}) must be at least 1 and at least the sum of the minimums ({minimum})"
        )
    alphabet = "".join(chars for on, chars, _ in classes.values() if on)
    if not alphabet:
        raise ProviderError("at least one of upper, lower, numeric or special must be true")
    chars = [secrets.choice(c) for on, c, m in classes.values() if on for _ in range(m)]
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    result = "".join(chars)
    state = {
        **inputs,
        "length": length,
        "upper": classes["upper"][0],
        "lower": classes["lower"][0],
        "numeric": numeric,
        "number": numeric,
        "special": classes["special"][0],
        "minUpper": classes["upper"][2],
        "minLower": classes["lower"][2],
        "minNumeric": classes["numeric"][2],
        "minSpecial": classes["special"][2],
        "result": result,
    }
    return result, state


@resource_handler("random:index/randomString:RandomString")
def _random_string(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result, state = random_string(inputs)
    return result, state  # the id is the result, as in the provider


@resource_handler("random:index/randomPassword:RandomPassword")
def _random_password(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result, state = random_string(inputs)
    # The provider stores a real bcrypt hash; a stand-in of the same shape is enough here.
    state["bcryptHash"] = "$2a$10$" + base64.b64encode(hashlib.sha256(result.encode()).digest()).decode()[:53]
    return "none", state


@resource_handler("random:index/randomBytes:RandomBytes")
def _random_bytes(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    length = inputs.get("length")
    if length is None or int(length) < 1:
        raise ProviderError(f"length must be at least 1, got {length!r}")
    data = secrets.token_bytes(int(length))
    return "none", {
        **inputs,
        "length": int(length),
        "base64": base64.b64encode(data).decode(),
        "hex": data.hex(),
    }
