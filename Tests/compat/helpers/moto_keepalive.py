"""moto's S3 API served by waitress, which keeps HTTP/1.1 connections open between requests as S3,
MinIO and Ceph do (moto_server's development server closes every connection). Usage:
python moto_keepalive.py PORT"""
import sys

from moto.server import DomainDispatcherApplication, create_backend_app
from waitress import serve

serve(DomainDispatcherApplication(create_backend_app), host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
