// Package s3 is the local S3: the subset of the REST API the product needs
// for per-task input and results (CreateBucket, PutObject, GetObject,
// HeadObject, ListObjectsV2), over the wire the unmodified aws-sdk-go-v2 s3
// client speaks, objects held in memory.
//
// Addressing. The local stack expects path-style requests
// (<endpoint>/<bucket>/<key>: set s3.Options.UsePathStyle), as its endpoint
// is an IP address. Virtual-hosted-style requests (Host <bucket>.<host>)
// are understood too when the host part names an existing bucket ("Amazon
// S3 User Guide: Virtual hosting of buckets").
//
// Fidelity, per the Amazon S3 API Reference pages of each operation: ETag
// is the quoted MD5 of the object; GetObject of a missing key is 404
// NoSuchKey, of a missing bucket 404 NoSuchBucket (XML error document);
// HeadObject answers 404 without a body; ListObjectsV2 returns keys in
// UTF-8 binary order, at most MaxKeys (default 1000) a page with a
// continuation token. Bodies the SDK sends aws-chunked (a trailing
// checksum) are decoded. An upload's x-amz-checksum-* values (header or
// trailer) are kept; an upload without one gets S3's own CRC-64/NVME
// ("Amazon S3 User Guide: Checking object integrity in Amazon S3"); both
// are returned to a GetObject with checksum mode ENABLED, which the SDK
// asks for and validates. Signatures are not checked. Range reads,
// versioning, multipart uploads and deletes are not served.
//
// The local stack creates the product's results bucket and exports its
// name as TH_RESULTS_BUCKET and the endpoint as AWS_ENDPOINT_URL_S3.
package s3
