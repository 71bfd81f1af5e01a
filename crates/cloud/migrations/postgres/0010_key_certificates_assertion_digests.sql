-- Each token-signing key has a self-signed certificate (DER, base64), published in
-- JWKS as `x5c` with its SHA-1 thumbprint as `x5t`, as Microsoft's keys are.
ALTER TABLE signing_keys ADD COLUMN certificate_der TEXT;
-- A client assertion may be presented again until it expires (Microsoft's libraries
-- reuse one for several minutes); the digest tells the same assertion from another one
-- that reuses its `jti`.
ALTER TABLE used_assertions ADD COLUMN assertion_digest TEXT;
