package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPair is a CA and a server certificate it signed for 127.0.0.1 and
// localhost, as PEM.
type testPair struct {
	ca              *x509.Certificate
	certPEM, keyPEM []byte
	serial          *big.Int
}

var serials = big.NewInt(1000)

func newTestPair(t *testing.T) testPair {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: serials.Add(serials, big.NewInt(1)), Subject: pkix.Name{CommonName: "jwtd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial := new(big.Int).Set(serials.Add(serials, big.NewInt(1)))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return testPair{ca: ca, serial: serial,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
}

// write puts the pair at cert and key, each by an atomic rename.
func (p testPair) write(t *testing.T, cert, key string) {
	t.Helper()
	for path, data := range map[string][]byte{cert: p.certPEM, key: p.keyPEM} {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
}

func (p testPair) client() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &tls.Config{RootCAs: pool}
}

// TestTLSConfigErrors: server.tls is both files or neither, readable, and
// a matching pair, or one line naming the key.
func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	good := newTestPair(t)
	good.write(t, cert, key)
	other := newTestPair(t)
	otherKey := filepath.Join(dir, "other-key.pem")
	if err := os.WriteFile(otherKey, other.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name      string
		cert, key string
		wantKey   string // "" means valid
	}{
		{"neither", "", "", ""},
		{"both", cert, key, ""},
		{"cert only", cert, "", "server.tls.key_file"},
		{"key only", "", key, "server.tls.cert_file"},
		{"cert missing", missing, key, "server.tls.cert_file"},
		{"key missing", cert, missing, "server.tls.key_file"},
		{"cert not PEM", garbage, key, "server.tls.cert_file"},
		{"key not PEM", cert, garbage, "server.tls.key_file"},
		{"key of another pair", cert, otherKey, "server.tls.key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadConfig(filepath.Join(t.TempDir(), "config.yaml"), true,
				[]string{"JWTD_SERVER_TLS_CERT_FILE=" + tt.cert, "JWTD_SERVER_TLS_KEY_FILE=" + tt.key})
			var ce *configError
			switch {
			case tt.wantKey == "" && err != nil:
				t.Fatalf("loadConfig(cert %q, key %q): %v, want nil", tt.cert, tt.key, err)
			case tt.wantKey != "" && (!errors.As(err, &ce) || ce.key != tt.wantKey || strings.Contains(err.Error(), "\n")):
				t.Fatalf("loadConfig(cert %q, key %q): %v, want one line naming %s", tt.cert, tt.key, err, tt.wantKey)
			}
		})
	}
}

// TestCertReloader: the files are looked at no more than every
// certCheckEvery; a changed pair is served from then on, and a broken one
// leaves the last good pair in service.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first, second := newTestPair(t), newTestPair(t)
	first.write(t, cert, key)
	var logs strings.Builder
	r, err := newCertReloader(TLSConfig{CertFile: cert, KeyFile: key}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r.now, r.checked = func() time.Time { return now }, now
	serial := func() *big.Int {
		t.Helper()
		c, err := r.certificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber
	}
	second.write(t, cert, key)
	steps := []struct {
		name    string
		advance time.Duration
		do      func()
		want    *big.Int
	}{
		{"before the next check", certCheckEvery - time.Nanosecond, nil, first.serial},
		{"at the next check", time.Nanosecond, nil, second.serial},
		{"broken pair written", 0, func() {
			broken := second
			broken.keyPEM = first.keyPEM // a key of another certificate
			broken.certPEM = append(append([]byte{}, second.certPEM...), '\n')
			broken.write(t, cert, key)
		}, second.serial},
		{"broken pair checked", certCheckEvery, nil, second.serial},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.do != nil {
			s.do()
		}
		if got := serial(); got.Cmp(s.want) != 0 {
			t.Fatalf("%s: certificate(%v) serves serial %v, want %v", s.name, now, got, s.want)
		}
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "server.tls.key_file") {
		t.Fatalf("no warning naming server.tls.key_file for the broken pair:\n%s", logs.String())
	}
}
