# A build step that needs a credential, as a download from a private package index would.
# BuildKit mounts the secret for this one RUN, on a tmpfs; no layer ever holds it.
FROM berth/python:3.11
RUN --mount=type=secret,id=db_password,required=true \
    echo "this step can read a $(wc -c < /run/secrets/db_password)-byte secret" \
    && ls -l /run/secrets
