// Generates tests/unit/data/numbers.txt: "<ieee754 bits hex> <String(d)>" per line.
const b = Buffer.alloc(8); const out = [];
function push(d){ b.writeDoubleLE(d); out.push(b.readBigUInt64LE().toString(16).padStart(16,'0')+' '+String(d)); }
[0.1,1/3,1e21,1e-7,123e-20,0.000001,2**53+2,5e-324,1.7976931348623157e308,1e23,-0,0,NaN,Infinity,-Infinity,
 123456789012345680000,1e-6,1.5e-6,9.999999999999999e20,1e20,0.3,0.30000000000000004,-1.5,100,4294967296.5,
 2.2250738585072014e-308,2.225073858507201e-308,-1e-7,1.2e-7,123.456,-0.000001234].forEach(push);
for (let e=-1074;e<=1023;e++) push(2**e);
let seed = 12345; function rnd(){ seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; }
for (let i=0;i<1500;i++){ const r=Buffer.alloc(8); for(let j=0;j<8;j++) r[j]=Math.floor(rnd()*256); const d=r.readDoubleLE(0); if(isFinite(d)) push(d); }
for (let i=0;i<500;i++){ push(rnd()*Math.pow(10, Math.floor(rnd()*60)-30)); push(Math.round(rnd()*1e6)/Math.pow(10, Math.floor(rnd()*10))); }
console.log(out.join('\n'));
