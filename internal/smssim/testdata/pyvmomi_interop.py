#!/usr/bin/python3
"""Drive the SMS simulator the way pyVmomi users do (run by TestPyVmomiInterop).

Usage: pyvmomi_interop.py HOST PORT USER PASSWORD CAFILE

It logs in to vim25, opens an SMS stub on /sms/sdk with the vcSessionCookie
header, walks every seeded provider (info, reconnect, task to the end, task
result), syncs, then recovers the expired-certificate provider: unregister,
the storage admin renews its certificate (the simulator's HTTP control),
register with confirm and resend, refresh. Every step asserts the Python
classes and values pyVmomi produced. Any failure exits non-zero with the
reason on stderr; success prints "ok" and the number of checks.
"""

import base64
import json
import ssl
import sys
import time
import urllib.request

from pyVim.connect import SmartStubAdapter
from pyVmomi import SoapAdapter, SoapStubAdapter, VmomiSupport, sms, vim, vmodl

HOST, PORT, USER, PASSWORD, CAFILE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
SMS_VERSION = "sms.version.version13"  # SMS 6.7.1, the newest pyVmomi 6.7.1 knows
CTX = ssl.create_default_context(cafile=CAFILE)  # the simulator's own CA: verified, not skipped

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def expect_fault(cls, call, *args):
    """Run call, which must raise exactly the pyVmomi fault class cls."""
    try:
        call(*args)
    except vmodl.MethodFault as e:
        check(type(e) is cls, "raised %s, want %s: %s" % (type(e).__name__, cls.__name__, e))
        check(bool(e.msg), "%s without a message (faultstring)" % cls.__name__)
        return e
    raise AssertionError("no %s raised" % cls.__name__)


# Faults pyVmomi found only by guessing from the bare type name, because
# the answer put them in a namespace other than their own.
guessed = []
_lookup = SoapAdapter.SoapDeserializer.LookupWsdlType


def recording_lookup(self, ns, name, allowManagedObjectReference=False):
    try:
        VmomiSupport.GetWsdlType(ns, name)
    except KeyError:
        # pyVmomi's own special case for references is not a guess.
        if not (allowManagedObjectReference and name.endswith("ManagedObjectReference")):
            guessed.append((ns, name))
    return _lookup(self, ns, name, allowManagedObjectReference)


SoapAdapter.SoapDeserializer.LookupWsdlType = recording_lookup


def wait(task):
    """QuerySmsTaskInfo until the task ends; returns the final info and every state seen."""
    states = []
    deadline = time.time() + 60
    while True:
        info = task.QuerySmsTaskInfo()
        if not isinstance(info, sms.TaskInfo):
            check(False, "task info is %s" % type(info).__name__)
        states.append((info.state, info.progress))
        if info.state in (sms.TaskInfo.State.success, sms.TaskInfo.State.error):
            check(info.key == task._moId, "task %s info key %s" % (task._moId, info.key))
            return info, states
        if time.time() > deadline:
            check(False, "task %s never ended: %s" % (task._moId, states[-5:]))
        time.sleep(0.02)


# --- vim25 login -----------------------------------------------------------
# SmartConnect would retrieve the ServiceContent, which vcsim fills with a
# tenantManager property that pyVmomi 6.7.1 does not know, so it fails to
# parse it. Log in on a SoapStubAdapter with the SessionManager directly,
# as the SMS samples do once they have a stub.
vimstub = SoapStubAdapter(host=HOST, port=PORT, path="/sdk", version="vim.version.version13", sslContext=CTX)
session = vim.SessionManager("SessionManager", vimstub).Login(USER, PASSWORD)
check(isinstance(session, vim.UserSession) and session.userName == USER, "login: %r" % session)
# The cookie parsing of pyVmomi's community samples and Ansible's vmware_sms.py.
cookie = vimstub.cookie.split('"')[1]
check(cookie == session.key, "cookie %r is not the session key %r" % (cookie, session.key))

# --- the SMS endpoint is recognised as one -----------------------------------
smart = SmartStubAdapter(host=HOST, port=PORT, path="/sms/sdk", preferredApiVersions=[SMS_VERSION], sslContext=CTX)
check(smart.versionId == '"urn:sms/6.7.1"', "SmartStubAdapter chose %s" % smart.versionId)

stub = SoapStubAdapter(host=HOST, port=PORT, path="/sms/sdk", version=SMS_VERSION, sslContext=CTX,
                       requestContext={"vcSessionCookie": cookie})
si = sms.ServiceInstance("ServiceInstance", stub)

about = si.QueryAboutInfo()
check(isinstance(about, sms.AboutInfo), "about is %s" % type(about).__name__)
check(about.apiVersion and about.vendor and about.instanceUuid and about.vasaApiVersion, "about %r" % about)
session_manager = si.QuerySessionManager()
check(isinstance(session_manager, sms.auth.SessionManager), "session manager is %s" % type(session_manager).__name__)

storage = si.QueryStorageManager()
check(isinstance(storage, sms.StorageManager) and storage._moId == "StorageManager", "storage manager %r" % storage)

# --- every provider ---------------------------------------------------------
providers = storage.QueryProvider()
ids = [p._moId for p in providers]
check(ids == ["vp-1", "vp-2", "vp-3", "vp-4", "vp-5", "vp-6"], "providers %s" % ids)
check(all(isinstance(p, sms.provider.VasaProvider) for p in providers), "provider classes")
seed = {
    "vp-1": ("array-a", "connected", "valid", "3.0", None),
    "vp-2": ("array-b", "disconnected", "valid", "3.0", None),
    "vp-3": ("array-c", "disconnected", "expired", "3.0", sms.fault.InvalidCertificate),
    "vp-4": ("array-d", "disconnected", "valid", "3.0", sms.fault.ProviderConnectionFailed),
    "vp-5": ("array-e", "disconnected", "valid", "3.0", sms.fault.ProviderConnectionFailed),
    "vp-6": ("legacy-f", "connected", "valid", "1.0", None),
}
infos = {}
for p in providers:
    info = p.QueryProviderInfo()
    infos[p._moId] = info
    name, status, cert, vasa, fault = seed[p._moId]
    check(isinstance(info, sms.provider.VasaProviderInfo), "%s info is %s" % (p._moId, type(info).__name__))
    check((info.name, info.status, info.certificateStatus, info.vasaVersion) == (name, status, cert, vasa),
          "%s info %s" % (p._moId, (info.name, info.status, info.certificateStatus, info.vasaVersion)))
    check((type(info.statusFault) if info.statusFault else None) is fault,
          "%s statusFault %s" % (p._moId, type(info.statusFault).__name__))
    check(info.certificate.startswith("-----BEGIN CERTIFICATE-----"), "%s certificate" % p._moId)
    check(info.url.startswith("https://127.0.0.1:"), "%s url %s" % (p._moId, info.url))
    arrays = info.relatedStorageArray
    check(len(arrays) == 1 and isinstance(arrays[0], sms.provider.VasaProviderInfo.RelatedStorageArray)
          and arrays[0].active and arrays[0].manageable, "%s related arrays %r" % (p._moId, arrays))
    check(info.maxBatchSize == 128 and info.arrayIndependentProvider is False, "%s batch fields" % p._moId)
check(list(infos["vp-1"].supportedProviderProfile) == ["ProfileBasedManagement"], "vp-1 provider profiles")
check(list(infos["vp-1"].supportedProfile) == ["blockDevice", "capability"], "vp-1 profiles")
check(list(infos["vp-6"].supportedProviderProfile) == [], "vp-6 provider profiles")
check(list(infos["vp-6"].supportedProfile) == ["capability", "storageDrs"], "vp-6 profiles")
check(infos["vp-3"].statusFault.certificate == infos["vp-3"].certificate, "vp-3 statusFault certificate")

# An SMS 2.0 client parses the same answers: fields added later are left out,
# fault types 2.0 does not know arrive as the ancestor it knows.
stub2 = SoapStubAdapter(host=HOST, port=PORT, path="/sms/sdk", version="sms.version.version2", sslContext=CTX,
                        requestContext={"vcSessionCookie": cookie})
for pid in ids:
    info2 = sms.provider.VasaProvider(pid, stub2).QueryProviderInfo()
    check(info2.name == seed[pid][0] and info2.status == seed[pid][1], "SMS 2.0 %s info" % pid)
    check(not hasattr(info2, "certificateStatus") or info2.certificateStatus is None, "SMS 2.0 %s has certificateStatus" % pid)

# --- reconnect every seeded provider ---------------------------------------
vp = {pid: sms.provider.VasaProvider(pid, stub) for pid in ids}
e = expect_fault(sms.fault.InvalidCertificate, vp["vp-3"].VasaProviderReconnect_Task)
check(e.certificate == infos["vp-3"].certificate, "InvalidCertificate carries the provider's certificate")
check(e.faultMessage and e.faultMessage[0].key.startswith("com.vmware.vim.sms"), "InvalidCertificate faultMessage")
expect_fault(sms.fault.ProviderConnectionFailed, vp["vp-4"].VasaProviderReconnect_Task)

task2 = vp["vp-2"].VasaProviderReconnect_Task()
check(isinstance(task2, sms.Task), "reconnect returned %s" % type(task2).__name__)
expect_fault(vim.fault.InvalidState, task2.QuerySmsTaskResult)  # not ended yet
for pid, want in (("vp-1", "success"), ("vp-2", "success"), ("vp-5", "error"), ("vp-6", "success")):
    task = task2 if pid == "vp-2" else vp[pid].VasaProviderReconnect_Task()
    info, states = wait(task)
    check(info.state == want, "%s reconnect ended %s" % (pid, info.state))
    check(info.object._moId == pid and info.task._moId == task._moId, "%s task identity" % pid)
    check(info.startTime is not None and info.completionTime is not None, "%s task times" % pid)
    if pid == "vp-2":
        check(any(s == "running" and p for s, p in states), "vp-2 reported no progress: %s" % states)
    if want == "success":
        check(info.error is None and task.QuerySmsTaskResult() is None, "%s result" % pid)
    else:
        check(isinstance(info.error, sms.fault.ProviderConnectionFailed), "vp-5 task error %s" % type(info.error).__name__)
        check(isinstance(info.error.faultCause, vmodl.fault.SystemError), "vp-5 cause %r" % info.error.faultCause)
        expect_fault(sms.fault.ProviderConnectionFailed, task.QuerySmsTaskResult)
check(vp["vp-2"].QueryProviderInfo().status == "connected", "vp-2 not connected after its reconnect")
check(vp["vp-5"].QueryProviderInfo().status == "disconnected", "vp-5 connected after a failed reconnect")

# --- sync ------------------------------------------------------------------
sync = vp["vp-1"].VasaProviderSync_Task()
expect_fault(sms.fault.SyncInProgress, vp["vp-1"].VasaProviderSync_Task)
info, _ = wait(sync)
check(info.state == "success", "sync ended %s" % info.state)

# --- faults of the session and of unknown objects --------------------------
bad = SoapStubAdapter(host=HOST, port=PORT, path="/sms/sdk", version=SMS_VERSION, sslContext=CTX,
                      requestContext={"vcSessionCookie": "not-a-session"})
expect_fault(sms.fault.InvalidSession, sms.ServiceInstance("ServiceInstance", bad).QueryStorageManager)
expect_fault(vmodl.fault.ManagedObjectNotFound, sms.provider.VasaProvider("vp-404", stub).QueryProviderInfo)

# --- recovery of the expired-certificate provider ---------------------------
old = infos["vp-3"]
info, _ = wait(storage.UnregisterProvider_Task(old.uid))
check(info.state == "success", "unregister ended %s" % info.state)
expect_fault(vmodl.fault.ManagedObjectNotFound, vp["vp-3"].QueryProviderInfo)

spec = sms.provider.VasaProviderSpec(name=old.name, url=old.url, username="vasa-admin",
                                     password="interop-secret", description="recovered by pyVmomi")
info, _ = wait(storage.RegisterProvider_Task(spec))  # still the expired certificate
check(info.state == "error" and type(info.error) is sms.fault.InvalidCertificate and info.error.certificate == old.certificate,
      "register with the expired certificate: %s %r" % (info.state, info.error))
# SMS 2.0 has no InvalidCertificate (4.0 added it): its nearest ancestor.
info, _ = wait(sms.StorageManager("StorageManager", stub2).RegisterProvider_Task(spec))
check(type(info.error) is sms.fault.ProviderRegistrationFault, "SMS 2.0 register error %s" % type(info.error).__name__)

# The storage admin provisions a new self-signed certificate (the simulator's control).
req = urllib.request.Request("https://%s:%d/smssim/providers/vp-3/renew-certificate" % (HOST, PORT), method="POST",
                             headers={"Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()})
renewed = json.load(urllib.request.urlopen(req, context=CTX))["certificate"]

task = storage.RegisterProvider_Task(spec)
info, _ = wait(task)
check(info.state == "error" and isinstance(info.error, sms.fault.CertificateNotTrusted),
      "register without the certificate: %s %r" % (info.state, info.error))
check(info.error.certificate == renewed, "CertificateNotTrusted carries the presented certificate")
untrusted = expect_fault(sms.fault.CertificateNotTrusted, task.QuerySmsTaskResult)

spec.certificate = untrusted.certificate  # confirm and resend, as Ansible's vmware_vasa does
task = storage.RegisterProvider_Task(spec)
info, _ = wait(task)
check(info.state == "success", "register with the certificate ended %s %r" % (info.state, info.error))
new = task.QuerySmsTaskResult()
check(isinstance(new, sms.provider.VasaProvider) and new._moId not in ids, "register result %r" % new)
check(info.result._moId == new._moId, "task info result %r" % info.result)
ninfo = new.QueryProviderInfo()
check((ninfo.name, ninfo.url, ninfo.status, ninfo.certificate, ninfo.certificateStatus) ==
      (old.name, old.url, "online", renewed, "valid"), "registered provider %r" % ninfo)
check(ninfo.uid != old.uid, "registered provider kept the old uid")
check(new._moId in [p._moId for p in storage.QueryProvider()], "registered provider not listed")
info, _ = wait(storage.RegisterProvider_Task(spec))
check(isinstance(info.error, vim.fault.AlreadyExists), "second register: %r" % info.error)

# --- certificate refresh ----------------------------------------------------
info, _ = wait(new.VasaProviderRefreshCertificate_Task())
check(info.state == "success", "refresh of the new provider ended %s %r" % (info.state, info.error))
check(new.QueryProviderInfo().certificate != renewed, "refresh kept the certificate")
info, _ = wait(vp["vp-4"].VasaProviderRefreshCertificate_Task())
check(isinstance(info.error, sms.fault.CertificateRefreshFailed) and list(info.error.providerId) == [infos["vp-4"].uid],
      "refresh of a disconnected provider: %r" % info.error)

# Every type came in its own namespace (SMS faults in urn:sms, vim25 ones in
# urn:vim25): pyVmomi never had to guess one from its bare name.
check(not guessed, "types sent outside their namespace, found only by their name: %s" % sorted(set(guessed)))
print("ok", checks)
