package vcenter

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// ProviderSpec is what registering a VASA provider needs (SMS
// VasaProviderSpec). Password is a secret: String, GoString and LogValue
// leave it out, and no error of this package contains it.
type ProviderSpec struct {
	// Name is the provider's display name in vCenter.
	Name string
	// URL is the provider's VASA URL, e.g.
	// https://array.example.com:8443/vasa/version.xml.
	URL string
	// Username and Password log vCenter in to the provider.
	Username string
	Password string
	// Certificate is the provider's certificate (PEM) that the caller
	// accepts; empty for none. vCenter fails the register task with
	// CertificateNotTrusted (carrying the certificate the provider
	// presented) when the provider's certificate is self-signed and not
	// this one.
	Certificate string
	// Description is optional.
	Description string
}

const redacted = "[REDACTED]"

func (s ProviderSpec) redactedPassword() string {
	if s.Password == "" {
		return ""
	}
	return redacted
}

// String renders the spec with the password redacted.
func (s ProviderSpec) String() string {
	return fmt.Sprintf("{Name:%q URL:%q Username:%q Password:%s Certificate:%s Description:%q}",
		s.Name, redactURL(s.URL), s.Username, s.redactedPassword(), certificateSummary(s.Certificate), s.Description)
}

// GoString renders the spec for %#v with the password redacted.
func (s ProviderSpec) GoString() string {
	return fmt.Sprintf("vcenter.ProviderSpec{Name:%q, URL:%q, Username:%q, Password:%q, Certificate:%q, Description:%q}",
		s.Name, redactURL(s.URL), s.Username, s.redactedPassword(), certificateSummary(s.Certificate), s.Description)
}

// LogValue renders the spec for log/slog with the password redacted.
func (s ProviderSpec) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", s.Name),
		slog.String("url", redactURL(s.URL)),
		slog.String("username", s.Username),
		slog.String("password", s.redactedPassword()),
		slog.String("certificateSha256", CertificateSHA256(s.Certificate)),
		slog.String("description", s.Description),
	)
}

// redactURL hides a password in a URL's user information.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return "(unparsable URL)"
		}
		return raw
	}
	return u.Redacted()
}

// certificateSummary names a PEM certificate by its fingerprint.
func certificateSummary(pemText string) string {
	if pemText == "" {
		return `""`
	}
	if fp := CertificateSHA256(pemText); fp != "" {
		return "sha256:" + fp
	}
	return "(not a PEM certificate)"
}

func (s ProviderSpec) sms() *smstypes.VasaProviderSpec {
	return &smstypes.VasaProviderSpec{
		SmsProviderSpec: smstypes.SmsProviderSpec{Name: s.Name, Description: s.Description},
		Username:        s.Username,
		Password:        s.Password,
		Url:             s.URL,
		Certificate:     s.Certificate,
	}
}

// TaskResult is what a finished SmsTask returned: for a managed object
// reference (the new VasaProvider of a register) its Type and Value (the
// moId). For any other result, Type is its vSphere type name and Value is
// empty.
type TaskResult struct {
	Type, Value string
}

// AboutInfo describes vCenter's storage monitoring service (SMS
// SmsAboutInfo).
type AboutInfo struct {
	Name, FullName, Vendor string
	// APIVersion is the SMS API version, e.g. "8.0.2.0".
	APIVersion   string
	InstanceUUID string
	// VasaAPIVersion is the newest VASA version SMS speaks ("" if not reported).
	VasaAPIVersion string
}

// RegisterProvider starts RegisterProvider_Task on the storage manager and
// returns the SmsTask. The task's result is the new provider.
func (c *Client) RegisterProvider(ctx context.Context, spec *smstypes.VasaProviderSpec) (vimtypes.ManagedObjectReference, error) {
	sm, err := c.storageManager(ctx)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, err
	}
	req := smstypes.RegisterProvider_Task{This: sm, ProviderSpec: spec}
	res, err := methods.RegisterProvider_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("register provider %s at %s: %w", spec.Name, redactURL(spec.Url), translate(err))
	}
	return res.Returnval, nil
}

// UnregisterProvider starts UnregisterProvider_Task for the provider whose
// uid (SmsProviderInfo.uid, not the moId) is uid and returns the SmsTask.
func (c *Client) UnregisterProvider(ctx context.Context, uid string) (vimtypes.ManagedObjectReference, error) {
	sm, err := c.storageManager(ctx)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, err
	}
	req := smstypes.UnregisterProvider_Task{This: sm, ProviderId: uid}
	res, err := methods.UnregisterProvider_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("unregister provider %s: %w", uid, translate(err))
	}
	return res.Returnval, nil
}

// RefreshProviderCertificate starts VasaProviderRefreshCertificate_Task on
// the provider ref and returns the SmsTask.
func (c *Client) RefreshProviderCertificate(ctx context.Context, ref vimtypes.ManagedObjectReference) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.VasaProviderRefreshCertificate_Task{This: ref}
	res, err := methods.VasaProviderRefreshCertificate_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("refresh certificate of provider %s: %w", ref.Value, translate(err))
	}
	return res.Returnval, nil
}

// RevokeProviderCertificate starts VasaProviderRevokeCertificate_Task on
// the provider ref and returns the SmsTask.
func (c *Client) RevokeProviderCertificate(ctx context.Context, ref vimtypes.ManagedObjectReference) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.VasaProviderRevokeCertificate_Task{This: ref}
	res, err := methods.VasaProviderRevokeCertificate_Task(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("revoke certificate of provider %s: %w", ref.Value, translate(err))
	}
	return res.Returnval, nil
}

// QueryAboutInfo returns what the SMS endpoint says about itself.
func (c *Client) QueryAboutInfo(ctx context.Context) (*smstypes.SmsAboutInfo, error) {
	req := smstypes.QueryAboutInfo{This: ServiceInstance}
	res, err := methods.QueryAboutInfo(ctx, c, &req)
	if err != nil {
		return nil, fmt.Errorf("query about info: %w", translate(err))
	}
	return &res.Returnval, nil
}

// QuerySessionManager returns the SMS session manager (SMS 5.0 and later).
func (c *Client) QuerySessionManager(ctx context.Context) (vimtypes.ManagedObjectReference, error) {
	req := smstypes.QuerySessionManager{This: ServiceInstance}
	res, err := methods.QuerySessionManager(ctx, c, &req)
	if err != nil {
		return vimtypes.ManagedObjectReference{}, fmt.Errorf("query session manager: %w", translate(err))
	}
	return res.Returnval, nil
}

// storageManager returns StorageManager, looking it up when the Client was
// not made by [NewClient].
func (c *Client) storageManager(ctx context.Context) (vimtypes.ManagedObjectReference, error) {
	if c.StorageManager.Value != "" {
		return c.StorageManager, nil
	}
	return c.QueryStorageManager(ctx)
}

// RegisterProvider starts RegisterProvider_Task with spec and returns the
// SmsTask moId. The task ends in error with the register faults
// (CertificateNotTrusted with the certificate the provider presented,
// InvalidCertificate, InvalidUrl, IncorrectUsernamePassword, AlreadyExists,
// ...); once it succeeds, [Session.TaskResult] names the new provider.
func (s *Session) RegisterProvider(ctx context.Context, spec ProviderSpec) (string, error) {
	return startTask(ctx, s.call, func(ctx context.Context, c *Client) (vimtypes.ManagedObjectReference, error) {
		return c.RegisterProvider(ctx, spec.sms())
	})
}

// UnregisterProvider starts UnregisterProvider_Task for the provider whose
// uid ([Provider.UID], not its moId) is providerUID and returns the SmsTask
// moId.
func (s *Session) UnregisterProvider(ctx context.Context, providerUID string) (string, error) {
	return startTask(ctx, s.call, func(ctx context.Context, c *Client) (vimtypes.ManagedObjectReference, error) {
		return c.UnregisterProvider(ctx, providerUID)
	})
}

// RefreshCertificate starts VasaProviderRefreshCertificate_Task on the
// provider with moId providerID and returns the SmsTask moId.
func (s *Session) RefreshCertificate(ctx context.Context, providerID string) (string, error) {
	return startTask(ctx, s.call, onProvider((*Client).RefreshProviderCertificate, providerID))
}

// TaskResult returns the result of the finished SmsTask with moId taskID:
// nil (and no error) for a task that returns nothing. A task that failed
// returns its fault; one still running faults InvalidState.
func (s *Session) TaskResult(ctx context.Context, taskID string) (*TaskResult, error) {
	return queryTaskResult(ctx, s.call, taskID)
}

func taskResultOf(res vimtypes.AnyType) *TaskResult {
	switch v := res.(type) {
	case nil:
		return nil
	case vimtypes.ManagedObjectReference:
		return &TaskResult{Type: v.Type, Value: v.Value}
	case *vimtypes.ManagedObjectReference:
		if v == nil {
			return nil
		}
		return &TaskResult{Type: v.Type, Value: v.Value}
	}
	t := reflect.TypeOf(res)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return &TaskResult{Type: t.Name()}
}

// AboutInfo returns what vCenter's storage monitoring service says about
// itself (SMS QueryAboutInfo).
func (s *Session) AboutInfo(ctx context.Context) (*AboutInfo, error) {
	var out *AboutInfo
	err := s.call(ctx, readOnly, func(ctx context.Context, c *Client) error {
		a, err := c.QueryAboutInfo(ctx)
		if err != nil {
			return err
		}
		out = &AboutInfo{
			Name:           a.Name,
			FullName:       a.FullName,
			Vendor:         a.Vendor,
			APIVersion:     a.ApiVersion,
			InstanceUUID:   a.InstanceUuid,
			VasaAPIVersion: a.VasaApiVersion,
		}
		return nil
	})
	return out, err
}
