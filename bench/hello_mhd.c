/*
 * hello_mhd: the baseline bench/http.sh measures kurad against. The least a
 * libmicrohttpd server can do over TLS: every request, whatever its method
 * or path, gets 200 {"status":"ok"} from one shared response object. It
 * runs MHD the way kurad does (internal polling thread, epoll, a thread pool
 * of N workers, GnuTLS with kurad's priority string), so the ratio
 * kurad/hello shows what Kura's own request pipeline costs, not MHD's.
 *
 * usage: hello_mhd CERT.pem KEY.pem PORT [THREADS]
 *   THREADS defaults to the number of online CPUs (kurad's default).
 * Listens on 127.0.0.1 only; stops on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

/* Kept equal to TLS_PRIORITIES in src/http/server.c. */
#define TLS_PRIORITIES                                                                       \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"     \
	"-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:"           \
	"-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE"

#define BODY "{\"status\":\"ok\"}"

static struct MHD_Response *ok_response;

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	/* First call: headers only. Answer on the second, after any body. */
	if (*req_cls == NULL) {
		*req_cls = (void *)1;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* discard bodies */
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, ok_response);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f == NULL) {
		fprintf(stderr, "hello_mhd: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || len > (1 << 20) ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "hello_mhd: %s: unreadable\n", path);
		goto out;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "hello_mhd: %s: read failed\n", path);
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[len] = '\0';
out:
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d = NULL;
	struct sockaddr_in sin;
	char *cert = NULL, *key = NULL, *end = NULL;
	unsigned long port, threads;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t sigs;
	int sig = 0, rc = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: hello_mhd CERT.pem KEY.pem PORT [THREADS]\n");
		return 2;
	}
	port = strtoul(argv[3], &end, 10);
	if (*argv[3] == '\0' || *end != '\0' || port == 0 || port > 65535) {
		fprintf(stderr, "hello_mhd: bad port %s\n", argv[3]);
		return 2;
	}
	threads = ncpu > 0 ? (unsigned long)ncpu : 1;
	if (argc == 5) {
		threads = strtoul(argv[4], &end, 10);
		if (*argv[4] == '\0' || *end != '\0' || threads == 0 || threads > 256) {
			fprintf(stderr, "hello_mhd: bad thread count %s\n", argv[4]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	/* Before MHD starts its threads, so they inherit the mask and only sigwait sees them. */
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	cert = read_file(argv[1]);
	key = read_file(argv[2]);
	if (cert == NULL || key == NULL)
		goto out;
	ok_response = MHD_create_response_from_buffer(strlen(BODY), (void *)BODY,
						      MHD_RESPMEM_PERSISTENT);
	if (ok_response == NULL ||
	    MHD_add_response_header(ok_response, "Content-Type", "application/json") != MHD_YES)
		goto out;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS |
				     MHD_USE_ERROR_LOG,
			     (uint16_t)port, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "hello_mhd: cannot listen on 127.0.0.1:%lu\n", port);
		goto out;
	}
	fprintf(stderr, "event=listening url=https://127.0.0.1:%lu threads=%lu\n", port, threads);
	while (sigwait(&sigs, &sig) != 0)
		;
	rc = 0;
out:
	if (d != NULL)
		MHD_stop_daemon(d);
	if (ok_response != NULL)
		MHD_destroy_response(ok_response);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}
