"""Register a learning management system that may launch Berth (LTI 1.3), and print what the
platform needs in return: the tool's login, launch and key set URLs."""

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management.base import BaseCommand
from pylti1p3.contrib.django.lti1p3_tool_config.models import LtiTool, LtiToolKey

KEY_NAME = "berth"


def tool_key() -> LtiToolKey:
    """Berth's one signing key for every platform, made on first use."""
    key = LtiToolKey.objects.filter(name=KEY_NAME).first()
    if key is None:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = LtiToolKey.objects.create(
            name=KEY_NAME,
            private_key=private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            public_key=private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
        )
    return key


class Command(BaseCommand):
    help = "Register (or update) an LTI 1.3 platform that may launch Berth's days."

    def add_arguments(self, parser):
        parser.add_argument("--title", required=True)
        parser.add_argument("--issuer", required=True)
        parser.add_argument("--client-id", required=True)
        parser.add_argument("--deployment-id", action="append", required=True, help="repeat for several")
        parser.add_argument("--login-url", required=True, help="the platform's OIDC authorization endpoint")
        parser.add_argument("--token-url", required=True, help="its OAuth2 token endpoint (grades)")
        parser.add_argument("--keyset-url", required=True, help="its public keys (JWKS)")
        parser.add_argument("--audience", default="", help="the token endpoint's audience, when not its URL")
        parser.add_argument("--base-url", default="https://BERTH", help="where Berth is served, for the URLs printed")

    def handle(self, *args, **o):
        tool, created = LtiTool.objects.update_or_create(
            issuer=o["issuer"],
            client_id=o["client_id"],
            defaults={
                "title": o["title"],
                "is_active": True,
                "auth_login_url": o["login_url"],
                "auth_token_url": o["token_url"],
                "auth_audience": o["audience"],
                "key_set_url": o["keyset_url"],
                "tool_key": tool_key(),
                "deployment_ids": json.dumps(o["deployment_id"]),
            },
        )
        base = o["base_url"].rstrip("/")
        done = "registered" if created else "updated"
        self.stdout.write(f"{done}: {tool.title} ({tool.issuer}, client {tool.client_id})")
        self.stdout.write(f"give the platform: login URL {base}/lti/login/")
        self.stdout.write(f"  launch and deep-linking URL {base}/lti/launch/, key set URL {base}/lti/jwks/")
