-- POST /notifications with the seed's payload, spread over 1,000 recipients.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"recipientId":"bench-%d","content":"Your order %d has shipped","category":"orders"}', i % 1000, i))
end
