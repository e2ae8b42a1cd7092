"""Verifies an aTES access token with PyJWT, a standard third-party JWT
library, against the JWKS that auth-api serves: proof that the tokens are
interoperable. Prints the verified claims as JSON.

usage: verify_with_pyjwt.py JWKS_URL TOKEN ISSUER AUDIENCE
"""
import json
import sys

import jwt

jwks_url, token, issuer, audience = sys.argv[1:5]
signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=["EdDSA"],
    issuer=issuer,
    audience=audience,
    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
)
print(json.dumps(claims))
