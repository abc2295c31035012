package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// certCheckEvery bounds how often a handshake looks at the certificate
// files: a renewal is served within seconds, and a busy listener does not
// stat two files per connection.
const certCheckEvery = 2 * time.Second

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// certReloader serves the pair in server.tls and re-reads it when either
// file changes, so a certificate renewed by cert-manager, certbot or an
// operator is served without a restart. A new pair that does not load (a
// half-written renewal, a key that does not match) is logged and the last
// good pair stays in service; it is tried again when the files change.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamps  [2]fileStamp
	checked time.Time
}

func newCertReloader(t TLSConfig, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile, now: time.Now, log: log}
	r.stamps = r.stat()
	cert, err := loadPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.checked = &cert, r.now()
	return r, nil
}

func (r *certReloader) stat() [2]fileStamp {
	var out [2]fileStamp
	for i, p := range []string{r.certFile, r.keyFile} {
		if st, err := os.Stat(p); err == nil {
			out[i] = fileStamp{st.ModTime(), st.Size()}
		}
	}
	return out
}

// certificate is tls.Config.GetCertificate.
func (r *certReloader) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= certCheckEvery {
		r.checked = now
		if stamps := r.stat(); stamps != r.stamps {
			r.stamps = stamps
			cert, err := loadPair(r.certFile, r.keyFile)
			if err != nil {
				r.log.Warn("server.tls: the new certificate pair does not load; serving the previous one", slog.String("error", err.Error()))
			} else {
				r.cert = &cert
				r.log.Info("server.tls: certificate reloaded", slog.Time("not_after", cert.Leaf.NotAfter))
			}
		}
	}
	return r.cert, nil
}

// serverTLS is the main listener's TLS configuration, or nil when
// server.tls is off. TLS 1.2 is the floor (RFC 9325 §3.1.1); Go's default
// cipher suites for it are all AEAD with forward secrecy.
func serverTLS(cfg Config, log *slog.Logger) (*tls.Config, error) {
	if !cfg.Server.TLS.enabled() {
		return nil, nil
	}
	r, err := newCertReloader(cfg.Server.TLS, log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.certificate}, nil
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
