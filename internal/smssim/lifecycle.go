package smssim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// The provider life cycle: register, unregister, certificate refresh and
// revocation. As in vCenter, each method returns an SmsTask at once and the
// faults it declares (AlreadyExists, ProviderRegistrationFault and its
// subtypes, NotFound, ProviderUnregistrationFault, CertificateRefreshFailed,
// CertificateRevocationFailed) end that task in error; only a malformed
// argument (InvalidArgument) faults the call itself.

// Durations of life-cycle tasks at speed 1.
const (
	registerDuration   = 2 * time.Second
	unregisterDuration = time.Second
	refreshDuration    = 2 * time.Second
	revokeDuration     = time.Second
)

// Provider statuses a life-cycle method reads or writes.
const statusOnline = string(smstypes.VasaProviderStatusOnline)

// About is what QueryAboutInfo answers.
var About = smstypes.SmsAboutInfo{
	Name:           "VMware Storage Monitoring Service",
	FullName:       "VMware Storage Monitoring Service 8.0.2 (vasagw smssim)",
	Vendor:         "VMware, Inc.",
	ApiVersion:     APIVersion,
	InstanceUuid:   "2f6b9a52-3c1e-4f0a-9d7e-5a8b1c2d3e4f",
	VasaApiVersion: "5.0",
}

// SessionManager is the reference QuerySessionManager answers.
var SessionManager = vimtypes.ManagedObjectReference{Type: "SmsSessionManager", Value: "SessionManager"}

func (o *serviceInstance) QueryAboutInfo(ctx *simulator.Context, req *smstypes.QueryAboutInfo) soap.HasFault {
	body := new(methods.QueryAboutInfoBody)
	if f := o.sim.precheck(ctx, "QueryAboutInfo", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	about := About
	body.Res = &smstypes.QueryAboutInfoResponse{Returnval: about}
	return body
}

func (o *serviceInstance) QuerySessionManager(ctx *simulator.Context, req *smstypes.QuerySessionManager) soap.HasFault {
	body := new(methods.QuerySessionManagerBody)
	if f := o.sim.precheck(ctx, "QuerySessionManager", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	body.Res = &smstypes.QuerySessionManagerResponse{Returnval: SessionManager}
	return body
}

// RegisterProviderTask answers RegisterProvider_Task. The task reads the
// certificate that the spec's URL presents (a real TLS handshake) and ends
// in error with
//   - InvalidUrl for a URL that is not an absolute https URL;
//   - AlreadyExists when a registered provider has the same URL or name;
//   - ProviderRegistrationFault when the URL does not complete a handshake;
//   - InvalidCertificate when the presented certificate has expired;
//   - CertificateNotTrusted, carrying the presented certificate, unless the
//     spec's certificate is that same certificate (confirm and resend).
//
// Otherwise it registers a provider with a fresh moId and uid, status
// online, holding the presented certificate; the task's result is its
// reference.
func (o *storageManager) RegisterProviderTask(ctx *simulator.Context, req *smstypes.RegisterProvider_Task) soap.HasFault {
	body := new(methods.RegisterProvider_TaskBody)
	if f := o.sim.precheck(ctx, "RegisterProvider_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	spec, ok := req.ProviderSpec.(*smstypes.VasaProviderSpec)
	switch {
	case !ok || spec == nil:
		body.Fault_ = invalidArgument("providerSpec")
		return body
	case spec.Name == "":
		body.Fault_ = invalidArgument("providerSpec.name")
		return body
	case spec.Url == "":
		body.Fault_ = invalidArgument("providerSpec.url")
		return body
	}

	// The handshake runs without the simulator's lock: the URL may be one
	// of its own listeners.
	var (
		fault   *vimtypes.LocalizedMethodFault
		leaf    *x509.Certificate
		leafPEM string
	)
	o.sim.mu.Lock()
	o.sim.settle()
	dup := o.sim.duplicate(spec)
	o.sim.mu.Unlock()
	u, err := url.Parse(spec.Url)
	if dup != nil {
		fault = dup
	} else if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		msg := fmt.Sprintf("The URL %s of the VASA provider is not valid.", spec.Url)
		fault = localized(&smstypes.InvalidUrl{
			ProviderRegistrationFault: registrationFault("com.vmware.vim.sms.provider.url.invalid", msg),
			Url:                       spec.Url,
		}, msg)
	} else if leaf, leafPEM, err = presentedBy(context.Background(), spec.Url); err != nil {
		msg := fmt.Sprintf("Could not connect to the VASA provider at %s.", spec.Url)
		rf := registrationFault("com.vmware.vim.sms.provider.registration.connect", msg)
		rf.FaultCause = localized(&vimtypes.SystemError{Reason: err.Error()}, err.Error())
		fault = localized(&rf, msg)
	} else if time.Now().After(leaf.NotAfter) {
		msg := fmt.Sprintf("The certificate of the VASA provider at %s expired on %s.", spec.Url, leaf.NotAfter.UTC().Format(time.RFC3339))
		fault = localized(&smstypes.InvalidCertificate{
			ProviderRegistrationFault: registrationFault("com.vmware.vim.sms.provider.certificate.expired", msg),
			Certificate:               leafPEM,
		}, msg)
	} else if !sameCertificate(spec.Certificate, leaf) {
		msg := fmt.Sprintf("The certificate of the VASA provider at %s is not trusted.", spec.Url)
		fault = localized(&smstypes.CertificateNotTrusted{
			ProviderRegistrationFault: registrationFault("com.vmware.vim.sms.provider.certificate.notTrusted", msg),
			Certificate:               leafPEM,
		}, msg)
	}

	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	// Checked again under the lock: a register of the same provider may
	// have ended during the handshake.
	if dup := s.duplicate(spec); dup != nil {
		fault = dup
	}
	var (
		result    vimtypes.AnyType
		effect    func(string)
		registers *Provider
	)
	if fault == nil {
		p := s.registeredProvider(spec, leaf, leafPEM)
		registers = p
		ref := vimtypes.ManagedObjectReference{Type: typeVasaProvider, Value: p.ID}
		result = ref
		effect = func(done string) {
			p.Info.LastSyncTime = done
			s.order = append(s.order, p.ID)
			s.providers[p.ID] = p
		}
	}
	body.Res = &smstypes.RegisterProvider_TaskResponse{Returnval: s.newTask(taskSpec{
		method: "RegisterProvider_Task", object: o.ManagedObjectReference, kind: taskRegister,
		duration: registerDuration, fault: fault, result: result, effect: effect, registers: registers,
	})}
	return body
}

// duplicate is the AlreadyExists fault for a spec whose URL or name a
// registered provider (or one being registered) already has, or nil. Callers hold s.mu.
func (s *Simulator) duplicate(spec *smstypes.VasaProviderSpec) *vimtypes.LocalizedMethodFault {
	known := make([]*Provider, 0, len(s.order))
	for _, id := range s.order {
		known = append(known, s.providers[id])
	}
	for _, t := range s.pending {
		if t.registers != nil && t.fault == nil {
			known = append(known, t.registers)
		}
	}
	for _, p := range known {
		if p.Info.Url == spec.Url || p.Info.Name == spec.Name {
			msg := fmt.Sprintf("A VASA provider with the name %s or the URL %s is already registered.", spec.Name, spec.Url)
			return localized(&vimtypes.AlreadyExists{
				VimFault: vimtypes.VimFault{MethodFault: methodFault("com.vmware.vim.sms.provider.alreadyRegistered", msg)},
				Name:     spec.Url,
			}, msg)
		}
	}
	return nil
}

// registeredProvider builds the provider a successful register creates,
// with a moId never used before. A URL served by one of the simulator's
// listeners reports the identity of the provider that listener was made
// for. Callers hold s.mu.
func (s *Simulator) registeredProvider(spec *smstypes.VasaProviderSpec, leaf *x509.Certificate, leafPEM string) *Provider {
	n := len(s.usedIDs) + 1
	id := fmt.Sprintf("vp-%d", n)
	for s.usedIDs[id] {
		n++
		id = fmt.Sprintf("vp-%d", n)
	}
	s.usedIDs[id] = true

	p := &Provider{ID: id, ReconnectDuration: time.Second, SyncDuration: 2 * time.Second}
	if e := s.endpoints[spec.Url]; e != nil {
		p.Info = cloneInfo(e.seed.Info)
		p.Info.ServiceLocation = rehost(p.Info.ServiceLocation, e.seed.Info.Url, e.url)
		p.endpoint = e
		if e.seed.SyncDuration > 0 {
			p.SyncDuration = e.seed.SyncDuration
		}
	} else {
		p.Info = providerInfo(n, spec.Name, leaf.Subject.CommonName, "3.0", statusOnline,
			string(smstypes.VasaProviderCertificateStatusValid), leafPEM, leaf.NotAfter, time.Now())
	}
	p.Info.Uid = newUUID()
	p.Info.Name = spec.Name
	p.Info.Description = spec.Description
	p.Info.Url = spec.Url
	p.Info.Status = statusOnline
	p.Info.StatusFault = nil
	p.Info.Certificate = leafPEM
	p.Info.CertificateExpiryDate = leaf.NotAfter.UTC().Format(time.RFC3339)
	p.Info.CertificateStatus = string(smstypes.VasaProviderCertificateStatusValid)
	return p
}

// UnregisterProviderTask answers UnregisterProvider_Task for the provider
// whose uid is req.ProviderId. The task ends in error with NotFound when no
// provider has that uid; otherwise the provider is gone when it succeeds
// (its moId then faults ManagedObjectNotFound).
func (o *storageManager) UnregisterProviderTask(ctx *simulator.Context, req *smstypes.UnregisterProvider_Task) soap.HasFault {
	body := new(methods.UnregisterProvider_TaskBody)
	if f := o.sim.precheck(ctx, "UnregisterProvider_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	if req.ProviderId == "" {
		body.Fault_ = invalidArgument("providerId")
		return body
	}
	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	var id string
	for _, pid := range s.order {
		if s.providers[pid].Info.Uid == req.ProviderId {
			id = pid
			break
		}
	}
	var fault *vimtypes.LocalizedMethodFault
	if id == "" {
		msg := fmt.Sprintf("No VASA provider with the ID %s is registered.", req.ProviderId)
		fault = localized(&vimtypes.NotFound{VimFault: vimtypes.VimFault{
			MethodFault: methodFault("com.vmware.vim.sms.provider.notFound", msg),
		}}, msg)
	}
	body.Res = &smstypes.UnregisterProvider_TaskResponse{Returnval: s.newTask(taskSpec{
		method: "UnregisterProvider_Task", provider: id, object: o.ManagedObjectReference, kind: taskUnregister,
		duration: unregisterDuration, fault: fault,
		effect: func(string) {
			if s.providers[id] == nil {
				return
			}
			delete(s.providers, id)
			s.order = slices.DeleteFunc(s.order, func(v string) bool { return v == id })
		},
	})}
	return body
}

// VasaProviderRefreshCertificateTask answers
// VasaProviderRefreshCertificate_Task: vCenter issues the provider a new
// certificate. The task ends in error with CertificateRefreshFailed for a
// provider that is neither connected nor online, or whose certificate has
// expired (the provider cannot be reached securely to install a new one);
// otherwise the provider's listener presents, and SMS holds, a new
// certificate valid for a year.
func (o *vasaProvider) VasaProviderRefreshCertificateTask(ctx *simulator.Context, req *smstypes.VasaProviderRefreshCertificate_Task) soap.HasFault {
	body := new(methods.VasaProviderRefreshCertificate_TaskBody)
	if f := o.sim.precheck(ctx, "VasaProviderRefreshCertificate_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	p := s.providers[o.Value]
	var fault *vimtypes.LocalizedMethodFault
	if reason := certificateRefusal(p); reason != "" {
		msg := fmt.Sprintf("Could not refresh the certificate of VASA provider %s: %s.", p.Info.Name, reason)
		fault = localized(&smstypes.CertificateRefreshFailed{
			MethodFault: methodFault("com.vmware.vim.sms.provider.certificate.refreshFailed", msg),
			ProviderId:  []string{p.Info.Uid},
		}, msg)
	}
	var cert *selfSigned
	if fault == nil {
		now := time.Now()
		var err error
		if cert, err = providerCertificate(p.Info.Name, now.Add(-time.Hour), now.Add(365*24*time.Hour)); err != nil {
			body.Fault_ = simulator.Fault(err.Error(), &vimtypes.SystemError{Reason: err.Error()})
			return body
		}
	}
	id := o.Value
	body.Res = &smstypes.VasaProviderRefreshCertificate_TaskResponse{Returnval: s.newTask(taskSpec{
		method: "VasaProviderRefreshCertificate_Task", provider: id, object: o.ManagedObjectReference, kind: taskRefreshCertificate,
		duration: refreshDuration, fault: fault,
		effect: func(string) {
			p := s.providers[id]
			if p == nil {
				return
			}
			if p.endpoint != nil {
				if err := p.endpoint.setCertificate(cert.certPEM, cert.keyPEM); err != nil {
					return
				}
			}
			leaf, _ := x509.ParseCertificate(cert.der)
			p.Info.Certificate = string(cert.certPEM)
			p.Info.CertificateExpiryDate = leaf.NotAfter.UTC().Format(time.RFC3339)
			p.Info.CertificateStatus = string(smstypes.VasaProviderCertificateStatusValid)
		},
	})}
	return body
}

// VasaProviderRevokeCertificateTask answers
// VasaProviderRevokeCertificate_Task. The task ends in error with
// CertificateRevocationFailed for a provider that is neither connected nor
// online; otherwise the provider's certificate is invalid and the provider
// disconnected when it succeeds.
func (o *vasaProvider) VasaProviderRevokeCertificateTask(ctx *simulator.Context, req *smstypes.VasaProviderRevokeCertificate_Task) soap.HasFault {
	body := new(methods.VasaProviderRevokeCertificate_TaskBody)
	if f := o.sim.precheck(ctx, "VasaProviderRevokeCertificate_Task", req.This); f != nil {
		body.Fault_ = f
		return body
	}
	s := o.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	p := s.providers[o.Value]
	var fault *vimtypes.LocalizedMethodFault
	if !isActive(p) {
		msg := fmt.Sprintf("Could not revoke the certificate of VASA provider %s: the provider is %s.", p.Info.Name, p.Info.Status)
		fault = localized(&smstypes.CertificateRevocationFailed{
			MethodFault: methodFault("com.vmware.vim.sms.provider.certificate.revocationFailed", msg),
		}, msg)
	}
	id := o.Value
	body.Res = &smstypes.VasaProviderRevokeCertificate_TaskResponse{Returnval: s.newTask(taskSpec{
		method: "VasaProviderRevokeCertificate_Task", provider: id, object: o.ManagedObjectReference, kind: taskRevokeCertificate,
		duration: revokeDuration, fault: fault,
		effect: func(string) {
			if p := s.providers[id]; p != nil {
				p.Info.CertificateStatus = string(smstypes.VasaProviderCertificateStatusInvalid)
				p.Info.Status = StatusDisconnected
			}
		},
	})}
	return body
}

// isActive reports whether p is connected or online.
func isActive(p *Provider) bool {
	return p.Info.Status == StatusConnected || p.Info.Status == statusOnline
}

// certificateRefusal says why p's certificate cannot be refreshed, or "".
func certificateRefusal(p *Provider) string {
	if !isActive(p) {
		return "the provider is " + p.Info.Status
	}
	if c, err := parsePEMCertificate(p.Info.Certificate); err == nil && time.Now().After(c.NotAfter) {
		return "its certificate expired on " + c.NotAfter.UTC().Format(time.RFC3339)
	}
	if p.Info.CertificateStatus == string(smstypes.VasaProviderCertificateStatusExpired) {
		return "its certificate expired"
	}
	return ""
}

// sameCertificate reports whether the PEM text certPEM holds leaf.
func sameCertificate(certPEM string, leaf *x509.Certificate) bool {
	if certPEM == "" {
		return false
	}
	c, err := parsePEMCertificate(certPEM)
	return err == nil && bytes.Equal(c.Raw, leaf.Raw)
}

func registrationFault(key, msg string) smstypes.ProviderRegistrationFault {
	return smstypes.ProviderRegistrationFault{MethodFault: methodFault(key, msg)}
}

func invalidArgument(property string) *soap.Fault {
	return simulator.Fault("A specified parameter was not correct: "+property, &vimtypes.InvalidArgument{InvalidProperty: property})
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
