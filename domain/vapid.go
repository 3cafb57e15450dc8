package domain

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
)

// VAPIDKeys is the application server's P-256 key pair (RFC 8292), both
// halves base64url without padding: PublicKey is the 65-byte uncompressed
// point browsers take as applicationServerKey, PrivateKey the 32-byte scalar.
type VAPIDKeys struct {
	PublicKey  string
	PrivateKey string
}

// GenerateVAPIDKeys makes a fresh key pair.
func GenerateVAPIDKeys() (VAPIDKeys, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return VAPIDKeys{}, err
	}
	return VAPIDKeys{
		PublicKey:  EncodeBase64URL(k.PublicKey().Bytes()),
		PrivateKey: EncodeBase64URL(k.Bytes()),
	}, nil
}

// Validate checks that both halves decode and that they belong together: a
// mismatched pair would make every push service answer 401/403.
func (k VAPIDKeys) Validate() error {
	priv, ok := DecodeBase64(k.PrivateKey)
	if !ok {
		return errors.New("private key is not base64url")
	}
	pk, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return errors.New("private key is not a P-256 scalar")
	}
	pub, ok := DecodeBase64(k.PublicKey)
	if !ok {
		return errors.New("public key is not base64url")
	}
	if !bytes.Equal(pk.PublicKey().Bytes(), pub) {
		return errors.New("public key does not match the private key")
	}
	return nil
}
