package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// fieldName matches field names safe to repeat in an error description.
var fieldName = regexp.MustCompile(`^[A-Za-z0-9_.]{1,64}$`)

// decodeJSON reads a strict JSON body into dst: application/json, UTF-8,
// one value, no unknown fields. An empty body is accepted only when
// optional is true, and leaves dst alone.
func decodeJSON(c echo.Context, dst any, optional bool) error {
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return errRequest("could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return errRequest("request body is empty")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: codeInvalidRequest, Description: "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: codeInvalidRequest, Description: "JSON bodies must be UTF-8"}
	}
	if !utf8.Valid(body) {
		return errRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field == "":
			return errRequest("request body must be a JSON object")
		case errors.As(err, &te) && fieldName.MatchString(te.Field):
			return errRequest("field %s has the wrong type", te.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if fieldName.MatchString(name) {
				return errRequest("unknown field %q", name)
			}
			return errRequest("unknown field")
		}
		return errRequest("request body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errRequest("request body has data after the JSON value")
	}
	return nil
}

// readForm parses an application/x-www-form-urlencoded body (RFC 6749
// §3.2). Repeated parameters are refused (RFC 6749 §3.1).
func readForm(c echo.Context) (url.Values, error) {
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: codeInvalidRequest, Description: "Content-Type must be application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, errRequest("request body is not a valid form")
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			if fieldName.MatchString(name) {
				return nil, errRequest("parameter %s is repeated", name)
			}
			return nil, errRequest("a parameter is repeated")
		}
		if !utf8.ValidString(vs[0]) {
			return nil, errRequest("form values must be UTF-8")
		}
	}
	return r.PostForm, nil
}
