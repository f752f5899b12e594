package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	vasagwv1 "github.com/vasagw/vasagw/gen/vasagw/v1"
)

// taskStart is one call of a task-starting RPC.
type taskStart struct {
	ctx context.Context
}

// taskFlags are the flags of every task-starting command.
type taskFlags struct {
	wait      bool
	requestID string
}

func (f *taskFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.wait, "wait", false, "follow the task until it ends (a progress bar on a terminal); Ctrl-C stops waiting, not the task")
	cmd.Flags().StringVar(&f.requestID, "request-id", "", "idempotency key (UUID): resending it returns the same task (default: a new one)")
}

func (f *taskFlags) id() string {
	if f.requestID != "" {
		return f.requestID
	}
	return newRequestID()
}

// providerTaskCommand is a command that starts one task on one provider.
func (a *app) providerTaskCommand(verb, short string, call func(s *taskStart, name, requestID string) (*vasagwv1.Task, error)) *cobra.Command {
	var tf taskFlags
	cmd := &cobra.Command{
		Use:               verb + " PROVIDER",
		Short:             short,
		Args:              cobraArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeProviders,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := a.resolveName("vasaProviders", args[0])
			if err != nil {
				return err
			}
			s := &taskStart{ctx: ctxOf(cmd)}
			t, err := call(s, name, tf.id())
			if err != nil {
				return err
			}
			return a.finishTask(s.ctx, t, tf.wait, hints{})
		},
	}
	tf.register(cmd)
	return cmd
}

// certificateFlags are the flags of the commands that register a
// provider's certificate.
type certificateFlags struct {
	username     string
	passwordFile string
	fingerprint  string
}

func (f *certificateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.username, "username", "", "the provider's user name (required)")
	cmd.Flags().StringVar(&f.passwordFile, "password-file", "", "file holding the provider's password (default: prompt with no echo on a terminal)")
	cmd.Flags().StringVar(&f.fingerprint, "certificate-fingerprint", "", "SHA-256 fingerprint (AB:CD:...) of the provider's self-signed certificate, to trust it without a prompt")
	_ = cmd.MarkFlagRequired("username")
}

func (a *app) registerCommand() *cobra.Command {
	var (
		tf                            taskFlags
		cf                            certificateFlags
		displayName, url, description string
	)
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register a VASA provider with --vcenter",
		Long: `Register a VASA provider with --vcenter.

The password is read from --password-file, or asked for with no echo on a
terminal; never from a flag or the environment. When the provider's
certificate is self-signed, vCenter must be told to trust it: on a terminal
vasactl shows its SHA-256 fingerprint and asks (with --wait); otherwise pass
the fingerprint with --certificate-fingerprint.`,
		Example: `  vasactl providers register --display-name array-g --url https://array-g.example.com:8443/vasa/version.xml \
    --username vasa-admin --password-file ./pw --wait`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := ctxOf(cmd)
			c, err := a.providers()
			if err != nil {
				return err
			}
			pw, err := a.readPassword(ctx, cf.passwordFile, cf.username)
			if err != nil {
				return err
			}
			fp, rid := cf.fingerprint, tf.id()
			for {
				t, err := c.RegisterProvider(ctx, &vasagwv1.RegisterProviderRequest{
					Parent:                       a.parentName(),
					DisplayName:                  displayName,
					Url:                          url,
					Description:                  description,
					Username:                     cf.username,
					Password:                     pw,
					CertificateSha256Fingerprint: fp,
					RequestId:                    rid,
				})
				if err != nil {
					if next, ok := a.confirmCertificate(ctx, status.Convert(err), fp, "register the provider"); ok {
						// A consent is a new request: the first one ended.
						fp, rid = next, newRequestID()
						continue
					}
					return err
				}
				if !tf.wait {
					return a.showStarted(t)
				}
				final, err := a.waitTask(ctx, t.GetName(), t)
				if err != nil {
					return err
				}
				if final.GetState() == vasagwv1.Task_STATE_FAILED {
					if next, ok := a.confirmCertificate(ctx, statusOf(final.GetError()), fp, "register the provider"); ok {
						fp, rid = next, newRequestID()
						continue
					}
				}
				return a.reportFinal(final, hints{})
			}
		},
	}
	cmd.Flags().StringVar(&displayName, "display-name", "", "the provider's name in vCenter (required)")
	cmd.Flags().StringVar(&url, "url", "", "the provider's VASA URL (required)")
	cmd.Flags().StringVar(&description, "description", "", "a description")
	_ = cmd.MarkFlagRequired("display-name")
	_ = cmd.MarkFlagRequired("url")
	cf.register(cmd)
	tf.register(cmd)
	return cmd
}

func (a *app) recoverCommand() *cobra.Command {
	var (
		tf taskFlags
		cf certificateFlags
	)
	cmd := &cobra.Command{
		Use:   "recover PROVIDER",
		Short: "Recover a provider whose certificate expired: check the new certificate, unregister, register, wait until online",
		Long: `Recover a provider whose certificate vCenter reports expired or invalid.

The gateway first checks the certificate the provider presents now (it must
have been renewed), and only then unregisters the provider, registers it
again with the same name and URL, and waits until it is online. With --wait
each step is shown as it starts and ends. A recovery that failed after the
unregister is resumed by the same command with the same --request-id.

The password is read from --password-file, or asked for with no echo on a
terminal; never from a flag or the environment.`,
		Example:           `  vasactl providers recover vp-3 --username vasa-admin --password-file ./pw --wait`,
		Args:              cobraArgs(cobra.ExactArgs(1)),
		ValidArgsFunction: a.completeProviders,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			name, err := a.resolveName("vasaProviders", args[0])
			if err != nil {
				return err
			}
			c, err := a.providers()
			if err != nil {
				return err
			}
			pw, err := a.readPassword(ctx, cf.passwordFile, cf.username)
			if err != nil {
				return err
			}
			fp, rid := cf.fingerprint, tf.id()
			h := hints{resume: fmt.Sprintf("vasactl providers recover %s --username %s --password-file FILE --request-id %s --wait", shortRef(name), cf.username, rid)}
			for {
				t, err := c.RecoverProvider(ctx, &vasagwv1.RecoverProviderRequest{
					Name:                         name,
					Username:                     cf.username,
					Password:                     pw,
					CertificateSha256Fingerprint: fp,
					RequestId:                    rid,
				})
				if err != nil {
					if next, ok := a.confirmCertificate(ctx, status.Convert(err), fp, "recover the provider with it"); ok {
						fp = next
						continue
					}
					return err
				}
				if !tf.wait {
					return a.showStarted(t)
				}
				final, err := a.waitTask(ctx, t.GetName(), t)
				if err != nil {
					return err
				}
				if final.GetState() == vasagwv1.Task_STATE_FAILED {
					// The same request id resumes the recovery from the
					// step that failed, now with the consent.
					if next, ok := a.confirmCertificate(ctx, statusOf(final.GetError()), fp, "recover the provider with it"); ok {
						fp = next
						continue
					}
				}
				return a.reportFinal(final, h)
			}
		},
	}
	cf.register(cmd)
	tf.register(cmd)
	return cmd
}

// confirmCertificate handles a CERTIFICATE_NOT_TRUSTED failure on a
// terminal: it shows the error with the certificate's fingerprint and asks
// whether to trust it. It returns the fingerprint to resend with, and false
// when the failure is another one, there is no terminal, the fingerprint
// was already sent, or the user said no.
func (a *app) confirmCertificate(ctx context.Context, st *status.Status, sent, action string) (string, bool) {
	f := factsOf(st)
	fp := f.metadata[metadataFingerprint]
	if f.reason != reasonCertificateNotTrusted || fp == "" || !a.env.StdinTerminal || strings.EqualFold(fp, sent) {
		return "", false
	}
	fmt.Fprintf(a.env.Stderr, "The provider's certificate is not signed by a certificate authority vCenter trusts (self-signed).\n")
	fmt.Fprintf(a.env.Stderr, "  SHA-256 fingerprint: %s\n", fp)
	fmt.Fprintf(a.env.Stderr, "Check it against the provider's own, out of band. Trust this certificate and %s? [y/N] ", action)
	answer, err := a.readLine(ctx)
	if err != nil {
		fmt.Fprintln(a.env.Stderr)
		return "", false
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return fp, true
	}
	return "", false
}

// readLine reads one line of stdin, or fails when ctx ends first.
func (a *app) readLine(ctx context.Context) (string, error) {
	if a.lines == nil {
		a.lines = bufio.NewReader(a.env.Stdin)
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := a.lines.ReadString('\n')
		if err != nil && s == "" {
			ch <- result{err: err}
			return
		}
		ch <- result{s: s}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// newRequestID is a random UUID (version 4).
func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
