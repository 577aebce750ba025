# Apache libcloud's CloudStack driver (Debian python3-libcloud), unchanged, against the edgeplane
# CloudStack emulator: list_locations (listZones), list_sizes, registerTemplate through the
# driver's own signed connection, list_images (templatefilter=executable), create_node
# (deployVirtualMachine + job polling), list_nodes (listVirtualMachines and the network lists),
# and error answers. Prints one JSON object with what it saw.
import json
import os
from urllib.parse import urlparse

from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

E = os.environ
u = urlparse(E["CS_ENDPOINT"])
Driver = get_driver(Provider.CLOUDSTACK)
drv = Driver(key=E["CS_KEY"], secret=E["CS_SECRET"], host=u.hostname, port=u.port, path=u.path, secure=False)
drv.connection.poll_interval = 0.2
out = {}
locations = drv.list_locations()
out["locations"] = sorted(loc.name for loc in locations)
edge = [loc for loc in locations if loc.name == "edge-1"][0]
sizes = drv.list_sizes()
out["sizes"] = [s.name for s in sizes]
ostype = drv._sync_request("listOsTypes")["ostype"][0]
t = drv._sync_request("registerTemplate", params={"name": "lc-template", "displaytext": "by libcloud", "format": "QCOW2", "hypervisor": "KVM", "url": E["TEMPLATE_URL"], "zoneid": edge.id, "ostypeid": ostype["id"], "directdownload": "true", "checksum": E["TEMPLATE_MD5"]})["template"][0]
out["registered"] = t["status"]
images = [i for i in drv.list_images(location=edge) if i.name == "lc-template"]
out["images"] = len(images)
node = drv.create_node(name="lc-vm", size=sizes[0], image=images[0], location=edge, ex_start_vm=True)
out["created"] = {"name": node.name, "state": node.state, "private_ips": node.private_ips}
nodes = [n for n in drv.list_nodes() if n.name == "lc-vm"]
out["listed"] = [n.state for n in nodes]
try:
    drv._sync_request("deployVirtualMachine", params={})
except Exception as e:
    out["error"] = {"type": type(e).__name__, "http": getattr(e, "http_code", None), "text": str(e)}
print(json.dumps(out))
