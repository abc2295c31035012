package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/jwtd/jwtd/clients"
	"github.com/jwtd/jwtd/token"
)

// audienceList takes a JSON string or array of strings.
type audienceList []string

func (a *audienceList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audienceList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &json.UnmarshalTypeError{Value: "audience", Field: "audience"}
	}
	*a = many
	return nil
}

type sessionRequest struct {
	Sub                 string                     `json:"sub"`
	ClientID            string                     `json:"client_id"`
	Scope               string                     `json:"scope"`
	Audience            audienceList               `json:"audience"`
	Claims              map[string]json.RawMessage `json:"claims"`
	Delivery            string                     `json:"delivery"`
	CodeChallenge       string                     `json:"code_challenge"`
	CodeChallengeMethod string                     `json:"code_challenge_method"`
}

// maxSubjectBytes bounds sub; it is an identifier, not a document.
const maxSubjectBytes = 255

// openSession is POST /v1/sessions: a confidential client with the
// sessions grant opens a session for a user on one of the clients.
func (s *Server) openSession(c echo.Context) error {
	caller, err := s.confidential(c, nil, clients.GrantSessions)
	if err != nil {
		return err
	}
	var req sessionRequest
	if err := decodeJSON(c, &req, false); err != nil {
		return err
	}
	if err := checkSubject(req.Sub); err != nil {
		return err
	}
	if _, ok := s.clients.Get(req.Sub); ok {
		// A client-credentials token's sub is its client id: a user of
		// the same name could log the client out everywhere, and a
		// resource server could not tell the two apart.
		return errRequest("sub must not be a client id")
	}
	target := caller
	if req.ClientID != "" {
		var ok bool
		if target, ok = s.clients.Get(req.ClientID); !ok {
			return errRequest("unknown client_id")
		}
	}
	scope, err := clients.NarrowScope(req.Scope, target.Scopes)
	if err != nil {
		return refusal(err)
	}
	aud, err := target.Audience(req.Audience, s.opts.DefaultAudience)
	if err != nil {
		return refusal(err)
	}
	var reserved *token.ReservedClaimError
	switch err := token.CheckCustomClaims(req.Claims); {
	case errors.Is(err, token.ErrDuplicateClaim): // the detail would echo the caller's names
		return errRequest("claims: two claim names are equal under case folding")
	case errors.As(err, &reserved): // the name as jwtd spells it, not the caller
		return errRequest("claims: reserved claim name: %q", reserved.Name)
	case err != nil:
		return errRequest("claims: not accepted")
	}
	switch req.Delivery {
	case "", "body":
	case "cookie", "code":
		if !target.Has(clients.GrantRefreshToken) {
			return errRequest("delivery %q needs a client with the refresh_token grant", req.Delivery)
		}
	default:
		return errRequest(`delivery must be "body", "cookie" or "code"`)
	}
	if req.Delivery != "code" && (req.CodeChallenge != "" || req.CodeChallengeMethod != "") {
		return errRequest(`code_challenge goes with "delivery": "code" only`)
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != "S256" {
		return errRequest(`code_challenge_method must be "S256"`)
	}
	if req.CodeChallengeMethod != "" && !pkceChallenge.MatchString(req.CodeChallenge) {
		return errRequest("code_challenge must be base64url of a SHA-256 digest (43 characters)")
	}
	ctx := c.Request().Context()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.countStoreError("ping", err)
		return err // jwtd never hands out a token it could not revoke
	}
	st := s.opts.Issuer.NewStamp()
	sess := token.Session{
		Subject:  req.Sub,
		ClientID: target.ID,
		SID:      token.NewID(),
		Scope:    scope,
		Audience: aud,
		Claims:   req.Claims,
		AuthTime: st.IssuedAt,
	}
	if req.Delivery == "code" {
		code, cc, err := s.opts.Issuer.MintCode(sess, req.CodeChallenge)
		if errors.Is(err, token.ErrTooLarge) {
			return errRequest("claims make the token larger than %d bytes", token.MaxTokenBytes)
		}
		if err != nil {
			return err
		}
		noStore(c)
		return c.JSON(http.StatusCreated, codeResponse{Code: code, ExpiresIn: secondsUntil(cc.ExpiresAt, s.now().Unix())})
	}
	pair, err := s.opts.Issuer.Mint(sess, st, target.Has(clients.GrantRefreshToken))
	if errors.Is(err, token.ErrTooLarge) {
		return errRequest("claims make the token larger than %d bytes", token.MaxTokenBytes)
	}
	if err != nil {
		return err
	}
	if req.Delivery == "cookie" {
		return s.answerCookie(c, http.StatusCreated, pair)
	}
	noStore(c)
	return c.JSON(http.StatusCreated, s.tokenResponse(pair))
}

func checkSubject(sub string) error {
	switch {
	case sub == "":
		return errRequest("sub is required")
	case len(sub) > maxSubjectBytes:
		return errRequest("sub is longer than %d bytes", maxSubjectBytes)
	case !utf8.ValidString(sub):
		return errRequest("sub is not valid UTF-8")
	case strings.IndexFunc(sub, unicode.IsControl) >= 0:
		return errRequest("sub contains control characters")
	}
	return nil
}

// sessionView is GET /v1/session's answer.
type sessionView struct {
	Active   bool                       `json:"active"`
	Sub      string                     `json:"sub"`
	SID      string                     `json:"sid,omitempty"`
	ClientID string                     `json:"client_id"`
	Scope    string                     `json:"scope,omitempty"`
	Aud      []string                   `json:"aud"`
	Exp      int64                      `json:"exp"`
	Iat      int64                      `json:"iat"`
	AuthTime int64                      `json:"auth_time"`
	Claims   map[string]json.RawMessage `json:"claims"`
}

// session is GET /v1/session: the session of the bearer token, as it is now.
func (s *Server) session(c echo.Context) error {
	cl, err := s.bearerClaims(c)
	if err != nil {
		return err
	}
	v := sessionView{
		Active: true, Sub: cl.Subject, SID: cl.SID, ClientID: cl.ClientID, Scope: cl.Scope,
		Aud: cl.Audience, Exp: cl.ExpiresAt.Unix(), Iat: cl.IssuedAt.Unix(), Claims: cl.Extra,
	}
	v.AuthTime = authTime(cl).Unix()
	if v.Claims == nil {
		v.Claims = map[string]json.RawMessage{}
	}
	noStore(c)
	return c.JSON(http.StatusOK, v)
}

// authTime is the login instant of an access token; a token without one
// (none jwtd minted) counts from its iat.
func authTime(ac *token.AccessClaims) time.Time {
	if ac.AuthTime != nil {
		return ac.AuthTime.Time
	}
	return ac.IssuedAt.Time
}
