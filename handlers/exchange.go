package handlers

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/revocation"
	"github.com/jwtd/jwtd/token"
)

// pkceChallenge matches an RFC 7636 S256 challenge: base64url of 32 bytes.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// pkceVerifier matches code_verifier = 43*128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

type exchangeRequest struct {
	Code         string `json:"code"`
	CodeVerifier string `json:"code_verifier"`
}

// errCode is every refusal of a code: spent, expired, foreign, forged or
// failing PKCE look the same to the caller.
func errCode() *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalidGrant, Description: "code is invalid, expired or already used"}
}

// exchange is POST /v1/sessions/exchange: the browser trades a handoff code
// (and its PKCE verifier) for a session whose refresh token goes in the
// cookie. Every attempt spends the code, a failed one too, so a stolen code
// cannot be tried twice.
func (s *Server) exchange(c echo.Context) error {
	if err := s.cookieRequest(c); err != nil {
		return err
	}
	var req exchangeRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	if req.Code == "" {
		return errRequest("code is required")
	}
	ctx := c.Request().Context()
	cc, err := s.opts.Verifier.Code(ctx, req.Code)
	if err != nil {
		return errCode()
	}
	if err := s.opts.Store.SpendCode(ctx, cc.ID, token.CodeTTL+s.opts.Tokens.Leeway); err != nil {
		if errors.Is(err, revocation.ErrReused) {
			return errCode()
		}
		s.countStoreError("spend code", err)
		return err
	}
	// RFC 7636 §4.6; a verifier for a code without a challenge is refused
	// too (OAuth 2.0 Security BCP §4.8.2: PKCE downgrade).
	switch {
	case cc.CodeChallenge == "" && req.CodeVerifier != "":
		return errCode()
	case cc.CodeChallenge != "":
		sum := sha256.Sum256([]byte(req.CodeVerifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if !pkceVerifier.MatchString(req.CodeVerifier) || subtle.ConstantTimeCompare([]byte(got), []byte(cc.CodeChallenge)) != 1 {
			return errCode()
		}
	}
	cl, ok := s.clients.Get(cc.ClientID)
	if !ok || !cl.Has(clients.GrantRefreshToken) {
		return errCode()
	}
	if _, ok := s.clients.Get(cc.Subject); ok {
		return errCode() // the subject has become a client id; see openSession
	}
	// A code minted before its subject was cut off (logout/all, admin
	// revoke) must not open a session after it: the cut-off revokes every
	// grant of the subject issued until then, and the code is one.
	if err := s.opts.Store.Check(ctx, revocation.Token{Subject: cc.Subject, IssuedAt: cc.IssuedAt.Time}); err != nil {
		if errors.Is(err, revocation.ErrRevoked) {
			return errCode()
		}
		s.countStoreError("check", err)
		return err
	}
	// Like a refresh, the session gets only what the client may have now.
	scope, aud, err := cl.Narrow(cc.Scope, cc.AccessAudience, s.opts.DefaultAudience)
	if err != nil {
		return errCode()
	}
	c.Set(ctxClientID, cl.ID)
	st := s.opts.Issuer.NewStamp()
	pair, err := s.opts.Issuer.Mint(token.Session{
		Subject: cc.Subject, ClientID: cl.ID, SID: token.NewID(), Scope: scope,
		Audience: aud, Claims: cc.Claims, AuthTime: cc.IssuedAt.Time,
	}, st, true)
	if err != nil {
		return err
	}
	return s.answerCookie(c, http.StatusOK, pair)
}
