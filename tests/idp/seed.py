"""Seed the test identity provider: its signing key, Berth as a client, and users with groups.

python -m tests.idp.seed REDIRECT_URI CLIENT_ID CLIENT_SECRET USER:PASSWORD:GROUP[,GROUP] ..."""

import sys

import django


def main(redirect_uri, client_id, client_secret, *users):
    django.setup()
    from django.contrib.auth.models import Group, User
    from oidc_provider.models import Client, ResponseType, RSAKey

    from tests.keys import rsa_key_pems

    RSAKey.objects.create(key=rsa_key_pems()[0])
    client = Client.objects.create(
        name="Berth",
        client_type="confidential",
        client_id=client_id,
        client_secret=client_secret,
        jwt_alg="RS256",
        require_consent=False,
    )
    client.redirect_uris = [redirect_uri]
    client.save()
    client.response_types.add(ResponseType.objects.get(value="code"))
    for spec in users:
        name, password, groups = spec.split(":")
        user = User.objects.create_user(name, f"{name}@idp.test", password)
        for group in filter(None, groups.split(",")):
            user.groups.add(Group.objects.get_or_create(name=group)[0])


if __name__ == "__main__":
    main(*sys.argv[1:])
