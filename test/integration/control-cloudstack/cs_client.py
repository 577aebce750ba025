# exoscale/cs (Debian python3-cs), unchanged, against the edgeplane CloudStack emulator: listZones,
# registerTemplate (direct download), deployVirtualMachine + its job polling (fetch_result),
# listVirtualMachines, and the error answers (431 sync, 432 unknown command, 530 failed job).
# Prints one JSON object with what it saw; the vitest file asserts on it.
import json
import os

from cs import CloudStack, CloudStackApiException

E = os.environ
api = CloudStack(endpoint=E["CS_ENDPOINT"], key=E["CS_KEY"], secret=E["CS_SECRET"], poll_interval=0.2, fetch_result=True, job_timeout=60)
out = {}
zones = api.listZones()["zone"]
out["zones"] = sorted(z["type"] for z in zones)
edge = [z for z in zones if z["type"] == "Edge"][0]
ostype = api.listOsTypes()["ostype"][0]
offering = api.listServiceOfferings()["serviceoffering"][0]
hosts = api.listHosts(type="Routing", zoneid=edge["id"])["host"]
t = api.registerTemplate(name="cs-template", displaytext="by python3-cs", format="QCOW2", hypervisor="KVM", url=E["TEMPLATE_URL"], zoneid=edge["id"], ostypeid=ostype["id"], directdownload="true", checksum=E["TEMPLATE_MD5"])["template"][0]
out["template"] = {"isready": t["isready"], "status": t["status"]}
job = api.deployVirtualMachine(zoneid=edge["id"], serviceofferingid=offering["id"], templateid=t["id"], hostid=hosts[0]["id"], name="cs-vm")
out["deployed"] = {"state": job["virtualmachine"]["state"], "hostid": job["virtualmachine"]["hostid"] == hosts[0]["id"]}
vms = api.listVirtualMachines(listall="true", name="cs-vm")["virtualmachine"]
out["listed"] = [v["state"] for v in vms]
try:
    api.deployVirtualMachine(serviceofferingid=offering["id"])
except CloudStackApiException as e:
    out["missingParam"] = {"http": e.response.status_code, "errorcode": e.error["errorcode"]}
try:
    api.createVPC(name="x")
except CloudStackApiException as e:
    out["unknown"] = {"http": e.response.status_code, "errorcode": e.error["errorcode"], "errortext": e.error["errortext"]}
bad = api.registerTemplate(name="cs-corrupt", displaytext="corrupt", format="QCOW2", hypervisor="KVM", url=E["CORRUPT_URL"], zoneid=edge["id"], ostypeid=ostype["id"], directdownload="true", checksum=E["TEMPLATE_MD5"])["template"][0]
try:
    api.deployVirtualMachine(zoneid=edge["id"], serviceofferingid=offering["id"], templateid=bad["id"], hostid=hosts[1]["id"], name="cs-bad")
except CloudStackApiException as e:
    out["jobFailure"] = {"message": e.args[0], "errorcode": e.error["errorcode"], "errortext": e.error["errortext"]}
wrong = CloudStack(endpoint=E["CS_ENDPOINT"], key=E["CS_KEY"], secret="not-the-secret")
try:
    wrong.listZones()
except CloudStackApiException as e:
    out["badSignature"] = {"http": e.response.status_code, "errorcode": e.error["errorcode"]}
print(json.dumps(out))
