package smssim

import (
	"fmt"
	"slices"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// Provider seeds one VasaProvider managed object.
type Provider struct {
	// ID is the provider's moId, e.g. "vp-1". It may contain ':' '-' '.'.
	ID string
	// Info is what QueryProviderInfo answers; Status changes when a
	// reconnect task of a disconnected provider completes.
	Info smstypes.VasaProviderInfo
	// ReconnectDuration is how long a reconnect task runs at speed 1
	// (progress rises over it). Zero completes the task at once.
	ReconnectDuration time.Duration
	// ReconnectFault, when set, is returned synchronously by
	// VasaProviderReconnect_Task (e.g. InvalidCertificate,
	// ProviderConnectionFailed) and no task is created.
	ReconnectFault vimtypes.BaseMethodFault
	// TaskFault, when set, makes the reconnect task fail half-way through
	// its duration with this fault; the provider's status does not change.
	TaskFault *vimtypes.LocalizedMethodFault
	// SyncDuration is how long a VasaProviderSync_Task runs at speed 1.
	SyncDuration time.Duration

	// CertificateKey is the PEM private key of Info.Certificate. The
	// provider's URL is served by a TLS listener on 127.0.0.1 (the
	// simulator rewrites Info.Url to it) that presents Info.Certificate
	// when CertificateKey is set, and otherwise a fresh self-signed
	// certificate with the same validity (or one year), which then differs
	// from the one SMS holds, like a provider whose certificate was
	// replaced behind vCenter's back.
	CertificateKey string
	// Unreachable makes the provider's listener reset every connection
	// before the TLS handshake, until [Simulator.SetProviderReachable].
	Unreachable bool

	endpoint *endpoint // the listener behind Info.Url; nil without a URL
}

// VasaProviderInfo.Status values that a reconnect reads and writes.
const (
	StatusConnected    = "connected"
	StatusDisconnected = "disconnected"
)

// DefaultProviders returns the seed of the embedded simulator: one provider
// per path the gateway must handle.
//
//   - vp-1 "array-a": connected, valid certificate, VASA 3.0; reconnect is a
//     task that succeeds without change.
//   - vp-2 "array-b": disconnected; reconnect runs about 4 s with rising
//     progress, then the provider is connected.
//   - vp-3 "array-c": disconnected, certificate expired; reconnect faults
//     InvalidCertificate carrying the provider's PEM certificate.
//   - vp-4 "array-d": disconnected, unreachable; reconnect faults
//     ProviderConnectionFailed.
//   - vp-5 "array-e": disconnected; the reconnect task fails half-way with
//     ProviderConnectionFailed and the provider stays disconnected.
//   - vp-6 "legacy-f": VASA 1.0, connected.
//
// Each provider's URL is served, once the providers are added to a
// Simulator, by a TLS listener on 127.0.0.1 presenting the provider's
// certificate (vp-3's expired one included); vp-4's resets every
// connection. Certificates are generated on each call (validity dates are
// relative to the wall clock), so DefaultProviders panics only if key
// generation fails.
func DefaultProviders() []Provider {
	now := time.Now().UTC().Truncate(time.Second)
	year := 365 * 24 * time.Hour

	type seed struct {
		id, name, vasa, status, certStatus string
		notBefore, notAfter                time.Time
	}
	seeds := []seed{
		{"vp-1", "array-a", "3.0", StatusConnected, string(smstypes.VasaProviderCertificateStatusValid), now.Add(-year), now.Add(year)},
		{"vp-2", "array-b", "3.0", StatusDisconnected, string(smstypes.VasaProviderCertificateStatusValid), now.Add(-year), now.Add(year)},
		{"vp-3", "array-c", "3.0", StatusDisconnected, string(smstypes.VasaProviderCertificateStatusExpired), now.Add(-2 * year), now.Add(-30 * 24 * time.Hour)},
		{"vp-4", "array-d", "3.0", StatusDisconnected, string(smstypes.VasaProviderCertificateStatusValid), now.Add(-year), now.Add(year)},
		{"vp-5", "array-e", "3.0", StatusDisconnected, string(smstypes.VasaProviderCertificateStatusValid), now.Add(-year), now.Add(year)},
		{"vp-6", "legacy-f", "1.0", StatusConnected, string(smstypes.VasaProviderCertificateStatusValid), now.Add(-year), now.Add(year)},
	}

	out := make([]Provider, 0, len(seeds))
	for i, s := range seeds {
		host := s.name + ".example.test"
		cert, err := providerCertificate(host, s.notBefore, s.notAfter)
		if err != nil {
			panic(fmt.Sprintf("smssim: provider certificate: %v", err))
		}
		p := Provider{
			ID:                s.id,
			Info:              providerInfo(i+1, s.name, host, s.vasa, s.status, s.certStatus, string(cert.certPEM), s.notAfter, now.Add(-time.Duration(i+1)*time.Hour)),
			ReconnectDuration: time.Second,
			SyncDuration:      2 * time.Second,
			CertificateKey:    string(cert.keyPEM),
		}
		switch s.id {
		case "vp-2":
			p.ReconnectDuration = 4 * time.Second
		case "vp-3":
			p.Info.StatusFault = localized(&smstypes.InvalidCertificate{
				ProviderRegistrationFault: smstypes.ProviderRegistrationFault{MethodFault: vimtypes.MethodFault{
					FaultMessage: []vimtypes.LocalizableMessage{certificateExpiredMessage(s.name, s.notAfter)},
				}},
				Certificate: string(cert.certPEM),
			}, certificateExpiredMessage(s.name, s.notAfter).Message)
			p.ReconnectFault = &smstypes.InvalidCertificate{
				ProviderRegistrationFault: smstypes.ProviderRegistrationFault{MethodFault: vimtypes.MethodFault{
					FaultMessage: []vimtypes.LocalizableMessage{certificateExpiredMessage(s.name, s.notAfter)},
				}},
				Certificate: string(cert.certPEM),
			}
		case "vp-4":
			p.Unreachable = true
			p.ReconnectFault = connectionFailed(s.name, p.Info.Url, "Connection refused (Connection refused)")
			p.Info.StatusFault = localized(connectionFailed(s.name, p.Info.Url, "Connection refused (Connection refused)"),
				fmt.Sprintf("Could not connect to VASA provider %s at %s.", s.name, p.Info.Url))
		case "vp-5":
			p.ReconnectDuration = 4 * time.Second
			msg := fmt.Sprintf("Could not connect to VASA provider %s at %s.", s.name, p.Info.Url)
			p.TaskFault = localized(connectionFailed(s.name, p.Info.Url, "Read timed out"), msg)
			p.Info.StatusFault = localized(connectionFailed(s.name, p.Info.Url, "Read timed out"), msg)
		case "vp-6":
			p.Info.SupportedProviderProfile = nil
			p.Info.SupportedProfile = []string{"capability", "storageDrs"}
			p.Info.RelatedStorageArray[0].Priority = -1
		}
		out = append(out, p)
	}
	return out
}

// providerInfo builds a realistic VasaProviderInfo.
func providerInfo(n int, name, host, vasaVersion, status, certStatus, certPEM string, expiry, lastSync time.Time) smstypes.VasaProviderInfo {
	f := false
	arrayID := fmt.Sprintf("com.example:array:%s:%04d", name, 1000+n)
	return smstypes.VasaProviderInfo{
		SmsProviderInfo: smstypes.SmsProviderInfo{
			Uid:         fmt.Sprintf("5b1e2c9a-7d4f-4e8b-9a1c-%012x", 0xa5a5a5000000+n),
			Name:        name,
			Description: fmt.Sprintf("Example Storage VASA provider for %s", name),
			Version:     "4.2.0." + fmt.Sprint(1200+n),
		},
		Url:                           fmt.Sprintf("https://%s:8443/vasa/version.xml", host),
		ServiceLocation:               fmt.Sprintf("https://%s:8443/vasa/services/vasaService", host),
		SupportedProfile:              []string{string(smstypes.VasaProfileBlockDevice), string(smstypes.VasaProfileCapability)},
		Certificate:                   certPEM,
		Status:                        status,
		VasaVersion:                   vasaVersion,
		Namespace:                     "com.example.storage",
		LastSyncTime:                  lastSync.Format(time.RFC3339),
		SupportedVendorModelMapping:   []smstypes.SupportedVendorModelMapping{{VendorId: "EXAMPLE", ModelId: "FlashArray " + name}},
		SupportedProviderProfile:      []string{string(smstypes.ProviderProfileProfileBasedManagement)},
		RelatedStorageArray:           []smstypes.RelatedStorageArray{{ArrayId: arrayID, Active: true, Manageable: true, Priority: 1}},
		ProviderId:                    fmt.Sprintf("example-%s-vp", name),
		CertificateExpiryDate:         expiry.Format(time.RFC3339),
		CertificateStatus:             certStatus,
		NeedsExplicitActivation:       &f,
		MaxBatchSize:                  128,
		RetainVasaProviderCertificate: &f,
		ArrayIndependentProvider:      &f,
		Type:                          string(smstypes.VpTypePERSISTENCE),
		Category:                      string(smstypes.VpCategoryExternal),
	}
}

func certificateExpiredMessage(name string, expiry time.Time) vimtypes.LocalizableMessage {
	return vimtypes.LocalizableMessage{
		Key: "com.vmware.vim.sms.provider.certificate.expired",
		Arg: []vimtypes.KeyAnyValue{
			{Key: "providerName", Value: name},
			{Key: "expiryDate", Value: expiry.Format(time.RFC3339)},
		},
		Message: fmt.Sprintf("The certificate of VASA provider %s expired on %s.", name, expiry.Format(time.RFC3339)),
	}
}

// connectionFailed is ProviderConnectionFailed with a faultMessage and the
// low-level cause, the way SMS reports an unreachable provider.
func connectionFailed(name, url, cause string) *smstypes.ProviderConnectionFailed {
	return &smstypes.ProviderConnectionFailed{RuntimeFault: vimtypes.RuntimeFault{MethodFault: vimtypes.MethodFault{
		FaultCause: &vimtypes.LocalizedMethodFault{
			Fault:            &vimtypes.SystemError{Reason: cause},
			LocalizedMessage: cause,
		},
		FaultMessage: []vimtypes.LocalizableMessage{{
			Key: "com.vmware.vim.sms.provider.connection.failed",
			Arg: []vimtypes.KeyAnyValue{
				{Key: "providerName", Value: name},
				{Key: "url", Value: url},
			},
			Message: fmt.Sprintf("Could not connect to VASA provider %s at %s: %s.", name, url, cause),
		}},
	}}}
}

func localized(f vimtypes.BaseMethodFault, msg string) *vimtypes.LocalizedMethodFault {
	return &vimtypes.LocalizedMethodFault{Fault: f, LocalizedMessage: msg}
}

// methodFault is the MethodFault of a fault that carries one localizable
// message, msg under key.
func methodFault(key, msg string) vimtypes.MethodFault {
	return vimtypes.MethodFault{FaultMessage: []vimtypes.LocalizableMessage{{Key: key, Message: msg}}}
}

// cloneInfo copies info so that the caller cannot reach the simulator's
// slices. Faults are shared: the simulator never mutates one in place.
func cloneInfo(info smstypes.VasaProviderInfo) smstypes.VasaProviderInfo {
	info.SupportedVendorModelMapping = slices.Clone(info.SupportedVendorModelMapping)
	info.SupportedProfile = slices.Clone(info.SupportedProfile)
	info.SupportedProviderProfile = slices.Clone(info.SupportedProviderProfile)
	info.RelatedStorageArray = slices.Clone(info.RelatedStorageArray)
	return info
}
