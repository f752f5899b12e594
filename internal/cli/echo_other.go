//go:build !linux

package cli

import "golang.org/x/term"

// echoOff puts the terminal in raw mode where this package knows no
// termios ioctl names; readLineFD then ends the line at '\r' and takes
// Ctrl-C as a byte.
func echoOff(fd int) (func(), error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	return func() { _ = term.Restore(fd, old) }, nil
}
