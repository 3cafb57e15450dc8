package domain

import (
	"crypto/sha256"
	"encoding/hex"
)

// shortHash is a stable 8-hex-digit fingerprint, enough to tell endpoints apart
// in logs and not enough to recover them.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}
