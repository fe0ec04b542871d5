//! The Lua that runs inside nginx in the dynamic mode.
//!
//! After the design of ingress-nginx: every upstream block is a placeholder
//! whose `balancer_by_lua_block` picks the peer from a `lua_shared_dict` that
//! the agent fills over a local control endpoint, so changing peers needs no
//! reload. Per worker, the parsed peers of an upstream are cached and reused
//! as long as the raw string in the dict is the same.
//!
//! Dict keys: `p:<upstream>` = the peer tokens of one upstream (see
//! [`crate::peers`]), `names` = every upstream name, `doc` = the last document
//! accepted verbatim (what GET returns). Writes use `safe_set`, which fails
//! rather than evicting another upstream when the dict is full.
//!
//! On a fresh start (empty dict) `init_by_lua` seeds the dict from
//! `<prefix>/wharf/peers.txt`, which the agent writes after every push, so an
//! nginx restarted without its agent still routes to the last known peers.

/// Goes into `http {}` via `lua.conf`. `{dict_size}` and `{package_path}` are
/// substituted by the renderer.
pub(crate) const LUA_CONF: &str = r#"# Dynamic upstreams: peers live in a shared dict the agent fills over the
# control endpoint (control.conf); changing them needs no reload.
lua_package_path "{package_path};;";
lua_shared_dict wharf_upstreams {dict_size};

init_by_lua_block {
    -- One global table; workers inherit it from the master.
    wharf = {}
    local dict = ngx.shared.wharf_upstreams
    local cache = {}   -- per worker: upstream name -> parsed peers

    -- "ip,port,weight,flag ..." -> primaries (weight-interleaved ring) and backups
    local function parse(raw)
        local peers, backups, maxw = {}, {}, 1
        for ip, port, w, flag in raw:gmatch("([^%s,]+),(%d+),(%d+),([pb])") do
            -- NB: clamped again here: the ring has one slot per unit of weight
            local p = { ip, tonumber(port), math.min(math.max(tonumber(w), 1), 100) }
            if flag == "b" then backups[#backups + 1] = p else peers[#peers + 1] = p end
            if p[3] > maxw then maxw = p[3] end
        end
        if #peers == 0 then peers, backups = backups, {} end
        -- weight 3 and 1 give a ring a,b,a,a: interleaved, not in runs
        local ring = {}
        for round = 1, maxw do
            for _, p in ipairs(peers) do
                if p[3] >= round then ring[#ring + 1] = p end
            end
        end
        return { raw = raw, ring = ring, n = #peers, backups = backups, rr = 0 }
    end

    -- In the access phase: 502 when the upstream has no peer at all.
    function wharf.require_peers(name)
        local raw = dict:get("p:" .. name)
        if raw == nil or raw == "" then
            ngx.log(ngx.ERR, "wharf: no ready peers for upstream ", name)
            return ngx.exit(502)
        end
    end

    function wharf.balance(name)
        local balancer = require "ngx.balancer"
        local raw = dict:get("p:" .. name)
        if raw == nil or raw == "" then
            ngx.log(ngx.ERR, "wharf: no ready peers for upstream ", name)
            return ngx.exit(502)
        end
        local c = cache[name]
        if c == nil or c.raw ~= raw then
            c = parse(raw)
            cache[name] = c
        end
        local ctx = ngx.ctx
        local try = ctx.wharf_try or 0
        ctx.wharf_try = try + 1
        local p
        if try < c.n or #c.backups == 0 then
            c.rr = c.rr % #c.ring + 1
            p = c.ring[c.rr]
        else
            p = c.backups[(try - c.n) % #c.backups + 1]
        end
        if try == 0 then
            local more = c.n + #c.backups - 1
            if more > 0 then balancer.set_more_tries(more) end
        end
        local ok, err = balancer.set_current_peer(p[1], p[2])
        if not ok then
            ngx.log(ngx.ERR, "wharf: set_current_peer ", p[1], ":", p[2], " for ", name, ": ", err)
            return ngx.exit(502)
        end
    end

    -- Replaces the whole table; returns true or nil, reason. Bounded: at most
    -- MAX_UPSTREAMS upstreams of MAX_PEERS peers each, weights 1..100 (as the agent
    -- clamps them), ports 1..65535.
    local MAX_UPSTREAMS, MAX_PEERS = 50000, 5000
    function wharf.load(doc)
        local new, names = {}, {}
        for line in doc:gmatch("[^\n]+") do
            local name, rest = line:match("^(%S+)%s*(.*)$")
            if not name then return nil, "bad line: " .. line end
            if new[name] ~= nil then return nil, "upstream twice: " .. name end
            local n = 0
            for tok in rest:gmatch("%S+") do
                local port, w = tok:match("^[^,]+,(%d+),(%d+),[pb]$")
                if not port then return nil, "bad peer: " .. tok end
                port, w = tonumber(port), tonumber(w)
                if port < 1 or port > 65535 then return nil, "bad port: " .. tok end
                if w < 1 or w > 100 then return nil, "weight outside 1..100: " .. tok end
                n = n + 1
                if n > MAX_PEERS then return nil, "more than " .. MAX_PEERS .. " peers in " .. name end
            end
            new[name] = rest
            names[#names + 1] = name
            if #names > MAX_UPSTREAMS then return nil, "more than " .. MAX_UPSTREAMS .. " upstreams" end
        end
        for name, rest in pairs(new) do
            local ok, err = dict:safe_set("p:" .. name, rest)
            if not ok then return nil, "shared dict: " .. err end
        end
        for old in (dict:get("names") or ""):gmatch("[^\n]+") do
            if new[old] == nil then dict:delete("p:" .. old) end
        end
        local ok, err = dict:safe_set("names", table.concat(names, "\n"))
        if not ok then return nil, "shared dict: " .. err end
        ok, err = dict:safe_set("doc", doc)
        if not ok then return nil, "shared dict: " .. err end
        return true
    end

    -- GET: the document nginx holds. POST: replace it. Only with the agent's token
    -- (read from <prefix>/wharf/control.token when nginx starts or reloads); without one
    -- nginx answers nothing but 403.
    function wharf.control()
        local want = wharf.token
        local got = ngx.var.http_x_wharf_control_token
        if want == nil or #want < 32 or got ~= want then
            return ngx.exit(403)
        end
        local method = ngx.req.get_method()
        if method == "GET" then
            ngx.header["Content-Type"] = "text/plain"
            ngx.print(dict:get("doc") or "")
            return
        end
        if method ~= "POST" then return ngx.exit(405) end
        ngx.req.read_body()
        local body = ngx.req.get_body_data()
        if body == nil then
            local path = ngx.req.get_body_file()
            if path then
                local f = io.open(path, "rb")
                if f then body = f:read("*a"); f:close() end
            end
        end
        local ok, err = wharf.load(body or "")
        if not ok then
            ngx.status = 400
            ngx.say(err)
            return ngx.exit(400)
        end
        ngx.say("ok")
    end

    -- The agent's token for the control endpoint (see wharf.control).
    do
        local f = io.open(ngx.config.prefix() .. "wharf/control.token", "rb")
        if f then
            wharf.token = (f:read("*a") or ""):match("^%s*(%S+)%s*$")
            f:close()
        else
            ngx.log(ngx.WARN, "wharf: no control token: the peer table cannot be read or changed")
        end
    end

    -- Fresh start: seed from the agent's last push. On reload the dict
    -- survives (same name and size), so this does nothing.
    if dict:get("doc") == nil then
        local f = io.open(ngx.config.prefix() .. "wharf/peers.txt", "rb")
        if f then
            local doc = f:read("*a")
            f:close()
            local ok, err = wharf.load(doc)
            if not ok then ngx.log(ngx.ERR, "wharf: seeding peers: ", err) end
        end
    end
}
"#;
