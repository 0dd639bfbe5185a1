"""moto's S3 API served by cheroot, a production WSGI server that keeps HTTP/1.1 connections
open between requests as S3, MinIO and Ceph do (moto_server's development server closes every
connection); over TLS when given a certificate and its key. Usage:
python moto_keepalive.py PORT [CERTIFICATE KEY]"""
import sys

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from moto.server import DomainDispatcherApplication, create_backend_app

server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), DomainDispatcherApplication(create_backend_app), numthreads=4)
if len(sys.argv) == 4:
    server.ssl_adapter = BuiltinSSLAdapter(sys.argv[2], sys.argv[3])
server.safe_start()
