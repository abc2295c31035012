package resource

import "errors"

// ErrOptions refuses Options or a Config NewVerifier or New cannot work
// with; the detail names the field.
var ErrOptions = errors.New("resource: invalid options")
