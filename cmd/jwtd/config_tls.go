package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
)

// TLSConfig is server.tls: the certificate chain and private key, PEM, that
// the main listener serves HTTPS with. Both or neither; empty means plain
// HTTP (behind a TLS-terminating proxy). jwtd re-reads the pair when the
// files change (see certReloader), so a renewal needs no restart.
// server.metrics_listen stays plain HTTP.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// enabled reports whether the main listener serves TLS.
func (c TLSConfig) enabled() bool { return c.CertFile != "" }

// validateTLS checks that server.tls names both files or neither, and that
// they are readable and hold a matching pair now: an error at start-up
// beats a listener whose every handshake fails.
func (c *Config) validateTLS() error {
	t := c.Server.TLS
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		return nil
	case t.KeyFile == "":
		return keyErr("server.tls.key_file", "must be set with server.tls.cert_file")
	case t.CertFile == "":
		return keyErr("server.tls.cert_file", "must be set with server.tls.key_file")
	}
	_, err := loadPair(t.CertFile, t.KeyFile)
	return err
}

// loadPair reads a certificate pair; an error names the key of the file at
// fault.
func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, keyErr("server.tls.cert_file", "%v", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, keyErr("server.tls.key_file", "%v", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err == nil {
		return pair, nil
	}
	msg := strings.TrimPrefix(err.Error(), "tls: ")
	if !holdsCertificate(certPEM) {
		return tls.Certificate{}, keyErr("server.tls.cert_file", "%s holds no PEM certificate (%s)", certFile, msg)
	}
	return tls.Certificate{}, keyErr("server.tls.key_file", "%s is not the private key of %s (%s)", keyFile, certFile, msg)
}

// holdsCertificate reports whether data has a CERTIFICATE block that parses.
func holdsCertificate(data []byte) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if _, err := x509.ParseCertificate(b.Bytes); b.Type == "CERTIFICATE" && err == nil {
			return true
		}
	}
}
