//go:build !linux

package spill

import (
	"errors"
	"os"
)

// punchHole is not implemented here: the file grows until it drains.
func punchHole(*os.File, int64, int64) error { return errors.ErrUnsupported }
