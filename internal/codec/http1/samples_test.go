package http1

// Sample messages shared by the allocation tests, benchmarks and fuzz seeds.
const (
	sampleGET = "GET /plaintext HTTP/1.1\r\n" +
		"Host: localhost:8080\r\n" +
		"User-Agent: wrk/4.2\r\n" +
		"Accept: */*\r\n" +
		"Accept-Encoding: gzip\r\n" +
		"Connection: keep-alive\r\n" +
		"X-Request-Id: 6f1c2b1e\r\n\r\n"

	sampleWrkGET = "GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n"

	sampleBrowserGET = "GET /static/app.js?v=1234567 HTTP/1.1\r\n" +
		"Host: www.example.com\r\n" +
		"Connection: keep-alive\r\n" +
		"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n" +
		"sec-ch-ua-mobile: ?0\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
		"sec-ch-ua-platform: \"Linux\"\r\n" +
		"Accept: */*\r\n" +
		"Sec-Fetch-Site: same-origin\r\n" +
		"Sec-Fetch-Mode: no-cors\r\n" +
		"Sec-Fetch-Dest: script\r\n" +
		"Referer: https://www.example.com/\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n" +
		"Cookie: session=2f7c0a9e1b4d4c8a9f3e; theme=dark; _ga=GA1.1.123456789.1700000000\r\n" +
		"If-None-Match: \"5f2b-18c0a1b2c3d\"\r\n\r\n"

	sampleResponse = "HTTP/1.1 200 OK\r\n" +
		"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Server: origin\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: 13\r\n" +
		"Cache-Control: no-cache\r\n\r\n"

	sampleChunked = "7\r\nMozilla\r\n" +
		"9;ext=1\r\nDeveloper\r\n" +
		"7\r\nNetwork\r\n" +
		"0\r\nX-Sum: 23\r\nX-B: 2\r\n\r\n"
)
