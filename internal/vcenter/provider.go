package vcenter

import (
	"slices"
	"strconv"
	"strings"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
)

// Provider is a VASA provider as SMS reports it, in Go types the service
// layer can use without govmomi.
type Provider struct {
	// ID is the provider's SMS managed-object id (moId).
	ID          string
	UID         string
	Name        string
	Description string
	URL         string
	Version     string
	VasaVersion string
	Namespace   string
	ProviderID  string
	Type        string
	Category    string
	// Status is the upstream status: online, offline, syncError, unknown,
	// connected or disconnected.
	Status string
	// StatusFault explains Status; nil when upstream reports none.
	StatusFault *Fault
	// CertificateStatus is valid, expirySoftLimitReached,
	// expiryHardLimitReached, expired or invalid ("" when not reported).
	CertificateStatus string
	// CertificateExpiry is zero when absent or unparseable.
	CertificateExpiry time.Time
	// LastSyncTime is zero when absent or unparseable.
	LastSyncTime time.Time
	// Certificate is the provider's certificate (PEM) as SMS holds it.
	Certificate string
	// ServiceLocation is the VASA endpoint SMS uses for the provider.
	ServiceLocation string

	NeedsExplicitActivation *bool
	RetainCertificate       *bool

	// SupportedProfiles is the (deprecated upstream) supportedProfile list.
	SupportedProfiles []string
	// SupportedProviderProfiles is the provider-level supportedProviderProfile list.
	SupportedProviderProfiles []string
}

// ProviderFromInfo converts what QueryProviderInfo returned for the provider
// with moId id. It returns nil for nil.
func ProviderFromInfo(id string, info *smstypes.VasaProviderInfo) *Provider {
	if info == nil {
		return nil
	}
	return &Provider{
		ID:                        id,
		UID:                       info.Uid,
		Name:                      info.Name,
		Description:               info.Description,
		URL:                       info.Url,
		Version:                   info.Version,
		VasaVersion:               info.VasaVersion,
		Namespace:                 info.Namespace,
		ProviderID:                info.ProviderId,
		Type:                      info.Type,
		Category:                  info.Category,
		Status:                    info.Status,
		StatusFault:               FaultFromLocalized(info.StatusFault),
		CertificateStatus:         info.CertificateStatus,
		CertificateExpiry:         parseTime(info.CertificateExpiryDate),
		LastSyncTime:              parseTime(info.LastSyncTime),
		Certificate:               info.Certificate,
		ServiceLocation:           info.ServiceLocation,
		NeedsExplicitActivation:   copyBool(info.NeedsExplicitActivation),
		RetainCertificate:         copyBool(info.RetainVasaProviderCertificate),
		SupportedProfiles:         slices.Clone(info.SupportedProfile),
		SupportedProviderProfiles: slices.Clone(info.SupportedProviderProfile),
	}
}

func copyBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// timeLayouts are the forms in which SMS string dates have been seen.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	time.RFC1123Z,
	time.RFC1123,
	time.UnixDate,
	time.ANSIC,
	"Mon Jan 02 15:04:05 MST 2006",
}

// parseTime reads an SMS date string (xsd:dateTime in practice, a few other
// layouts, or epoch milliseconds); the zero time when it cannot.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}
