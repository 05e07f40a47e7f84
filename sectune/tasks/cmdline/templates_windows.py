"""Benign Windows command lines: cmd.exe built-ins and executables (``CMD``) and PowerShell (``POWERSHELL``).

Written as plain text so that backslashes and quotes read exactly as they run: ``## program`` starts a program,
each following line is one argument pattern with ``{placeholders}`` (see ``benign._VOCAB``), ``#`` lines are
comments. Windows paths with spaces
come pre-quoted from the vocabulary. The ``powershell.exe`` entries are how admin tools and installers start
scripts (``-File``, ``-Command``) and, like SCCM/Intune-style management agents, ``-EncodedCommand`` with a benign
payload: a detector must learn what is encoded, not that something is. Mixed case (``IPConfig /All``), both option
characters where a program takes both, 8.3 paths (``C:\\PROGRA~1``) and quoted paths with spaces are here for the same
reason: the obfuscation engine produces them too.
"""

from __future__ import annotations


def _parse(spec: str) -> dict[str, list[str]]:
    programs: dict[str, list[str]] = {}
    current = None
    for line in spec.splitlines():
        if line.startswith("## "):
            current = programs.setdefault(line[3:].strip(), [])
        elif line.strip() and not line.startswith("#"):
            if current is None:
                raise ValueError(f"pattern before any '## program' line: {line!r}")
            current.append(line)
    return programs


CMD: dict[str, list[str]] = _parse(r"""
# --- files and directories
## dir
dir {wdir}
dir C:\PROGRA~1
dir C:\PROGRA~2\Common~1 /b
dir "C:\Program Files\Common Files" /ad
dir /s /b {wdir}\*.{wext}
dir /a /q {wdir}
dir /o:-d /t:w {wdir} | more
dir %SystemRoot%\System32\drivers\*.sys
## copy
copy {wpath} {wdir}
copy /y {wfile} {share}\{wuser}\
copy /b part1.bin + part2.bin full.bin
copy {wpath} {wpath}.bak
## xcopy
xcopy {wdir} {wdir2} /e /i /h /y
xcopy /d /s /c {wdir}\*.{wext} {share}\archive\
xcopy C:\inetpub\wwwroot D:\Backups\wwwroot /E /H /C /I /K /Y
## robocopy
robocopy {wdir} {wdir2} /MIR /R:2 /W:5
robocopy {wdir} {share}\{wuser} /E /Z /COPY:DAT /LOG:C:\Logs\robocopy.log
robocopy C:\Users\{wuser} {share}\{wuser} /MIR /XD AppData "Temporary Internet Files" /XF *.tmp *.ost ntuser.dat* /R:1 /W:1 /MT:16 /NP /TEE /LOG+:C:\Logs\profile-backup-{wuser}.log
robocopy {wdir} {wdir2} *.{wext} /MOV /MINAGE:30
## del
del /q /f {wdir}\*.{wext}
del {wpath}
del /s /q %TEMP%\*
del /f /s /q C:\Windows\Temp\*.* 2>nul
## type
type {wpath}
type {wpath} | findstr /i {wpattern}
type nul > {wfile}
type C:\Windows\System32\drivers\etc\hosts
## findstr
findstr /s /i {wpattern} {wdir}\*.{wext}
findstr /n {wpattern} {wpath}
netstat -ano | findstr :{port}
tasklist | findstr /i {wproc}
findstr /r /c:"^ERROR.*timeout" {wpath}
## find
find /c /v "" {wpath}
find /i "{wuser}" {wpath}
## set
set PATH=%PATH%;C:\Tools\bin
set
set JAVA_HOME=C:\Program Files\Eclipse Adoptium\jdk-17.0.11.9-hotspot
set /a COUNT=%COUNT%+1
set HTTP_PROXY=http://proxy.corp.example.com:3128
## setx
setx PATH "%PATH%;C:\Tools\bin"
setx /M JAVA_HOME "C:\Program Files\Java\jdk-17"
setx {wapp}_ENV production
## echo
echo %USERNAME% %COMPUTERNAME%
echo {computer} >> C:\Logs\hosts.txt
echo off
echo %DATE% %TIME% backup started >> C:\Logs\backup.log
echo {ip} {computer}.{wdomain} >> %SystemRoot%\System32\drivers\etc\hosts
echo %PATH%
## cd
cd /d {wdir}
cd ..
cd %USERPROFILE%\Documents
chdir {wdir}
## mkdir
mkdir {wdir}\{wapp}
md C:\Logs\{wapp} 2>nul
mkdir "C:\Users\{wuser}\Documents\New Folder"
## rmdir
rmdir /s /q {wdir}\old
rd /s /q %TEMP%\{wapp}
## move
move /y {wfile} {wdir}
move {wpath} {share}\archive\
## ren
ren {wfile} {wfile}.old
rename *.txt *.bak
## attrib
attrib -h -s {wpath}
attrib +r {wpath}
attrib /s /d -r {wdir}\*
## icacls
icacls {wdir} /grant {duser}:(OI)(CI)M
icacls {wpath} /reset
icacls {wdir} /save acl-backup.txt /t /c
icacls "C:\ProgramData\{vendor}" /inheritance:r /grant:r Administrators:F SYSTEM:F
## takeown
takeown /f {wpath}
takeown /f {wdir} /r /d y
## tree
tree {wdir} /f
tree /a C:\Scripts
## more
more {wpath}
more +100 C:\Logs\{wapp}.log
## sort
sort {wpath} /o sorted.txt
type users.txt | sort /r
## fc
fc {wpath} {wpath}.bak
fc /b old.bin new.bin
comp file1.dll file2.dll /m
## forfiles
forfiles /p "C:\Logs" /s /m *.log /d -{days} /c "cmd /c del @path"
forfiles /p {wdir} /m *.{wext} /c "cmd /c echo @file @fdate"
## where
where python
where /r C:\ {wfile}
where git
## expand
expand {wfile}.cab -F:* {wdir}
expand -r driver.in_ C:\Drivers
## compact
compact /c /s:{wdir}
compact /q {wdir}
## cipher
cipher /c {wpath}
cipher /w:C:\Temp
## tar
tar -xf {wapp}-{version}.zip -C {wdir}
tar -czf C:\Backups\logs.tgz -C C:\Logs .

# --- network
## ipconfig
ipconfig /all
IPConfig /All
ipconfig -all
IPCONFIG /FlushDNS
ipconfig /flushdns
ipconfig /release && ipconfig /renew
ipconfig /displaydns | findstr {domain}
## netstat
netstat -ano
NETSTAT -ANO
netstat /ano | findstr :{port}
netstat -an | find "ESTABLISHED"
netstat -rn
netstat -b -n 5
## ping
ping {computer}
ping /n {n} {ip}
PING -n 2 {computer}
ping -n {n} {ip}
ping -t {ip}
ping -n 1 -w 500 {computer}.{wdomain} >nul && echo up
## tracert
tracert {domain}
tracert -d {ip}
pathping -n {domain}
## nslookup
nslookup {domain}
nslookup {computer} {ip}
nslookup -type=srv _ldap._tcp.dc._msdcs.{wdomain}
## arp
arp -a
arp -d *
## route
route print
route add {ip} mask 255.255.255.255 192.168.1.1 -p
## getmac
getmac /v /fo list
nbtstat -A {ip}
## netsh
netsh interface ip show config
netsh advfirewall firewall add rule name="{wapp} {port}" dir=in action=allow protocol=TCP localport={port}
netsh wlan show profiles
netsh advfirewall set allprofiles state on
netsh winhttp set proxy proxy.corp.example.com:3128 "<local>;*.corp.example.com"
netsh interface ip set address name="Ethernet" static {ip} 255.255.255.0 192.168.1.1
netsh int tcp show global
netsh interface portproxy add v4tov4 listenport={port} listenaddress=0.0.0.0 connectport={port} connectaddress={ip}
## curl.exe
curl.exe -L -o %TEMP%\{wapp}.zip {wurl}
curl -s {wurl}
curl.exe -k https://{computer}:{port}/health
## ssh
ssh {wuser}@{computer}
ssh -i %USERPROFILE%\.ssh\id_ed25519 {user}@{host}
scp {wpath} {user}@{host}:/tmp/
## mstsc
mstsc /v:{computer}
mstsc /v:{ip}:3389 /admin /f
## net
net user {wuser} /domain
net localgroup administrators
net use Z: {share} /persistent:yes
net use * /delete /y
net stop {wsvc} && net start {wsvc}
net group "Domain Admins" /domain
net share
net time \\{computer} /set /y
net user {wuser} * /add
net localgroup "Remote Desktop Users" {duser} /add
net accounts
net view \\{computer}
net use \\{computer}\IPC$ /user:{duser}
## winrm
winrm quickconfig -q
winrm get winrm/config
winrs -r:{computer} ipconfig /all

# --- processes, services, system
## tasklist
tasklist
TaskList /FI "IMAGENAME eq {exe}"
tasklist -v -fo csv
tasklist /v /fi "USERNAME eq {duser}"
tasklist /svc /fi "imagename eq svchost.exe"
tasklist /m {dll}
tasklist /s {computer} /fo csv
## taskkill
taskkill /im {exe} /f
taskkill /pid {pid} /t /f
taskkill /f /fi "status eq not responding"
taskkill /s {computer} /im {exe}
## sc
sc query {wsvc}
sc stop {wsvc}
sc config {wsvc} start= auto
sc qc {wsvc}
sc \\{computer} query state= all
sc create {wapp}Svc binPath= "\"C:\Program Files\{vendor}\{wapp}\{wapp}Service.exe\" --service" start= delayed-auto DisplayName= "{vendor} {wapp} Service"
sc failure {wsvc} reset= 86400 actions= restart/60000/restart/60000//
## reg
reg query {regkey}
reg query {regkey} /v {regval}
reg add {regkey} /v {regval} /t {regtype} /d 1 /f
reg export {regkey} C:\Backups\reg-backup.reg /y
reg delete {regkey} /v {regval} /f
reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall" /s /f "{vendor}"
reg import C:\Temp\settings.reg
reg add "HKLM\SOFTWARE\Policies\Google\Chrome" /v HomepageLocation /t REG_SZ /d "https://intranet.{wdomain}/" /f
## whoami
whoami
whoami /groups
whoami /priv
whoami /upn
## systeminfo
systeminfo
systeminfo | findstr /B /C:"OS Name" /C:"OS Version"
systeminfo /s {computer} /fo csv > {computer}.csv
## hostname
hostname
ver
vol C:
## wmic
wmic os get caption,version,buildnumber
wmic logicaldisk get caption,freespace,size
wmic product where "name like '%{vendor}%'" get name,version
wmic bios get serialnumber
wmic /node:{computer} computersystem get model,manufacturer
wmic qfe list brief
wmic process where name="{exe}" get processid,commandline
## schtasks
schtasks /query /fo LIST /v
schtasks -query -fo LIST -v
SchTasks /Query /TN {wapp}
schtasks /run /tn {taskname}
schtasks /change /tn {taskname} /disable
schtasks /create /tn "\Acme\NightlyBackup" /tr "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\Scripts\Backup.ps1 -Target {share}\backup -RetentionDays 30" /sc daily /st {wtime} /ru SYSTEM /rl HIGHEST /f
schtasks /delete /tn {taskname} /f
schtasks /query /s {computer} /tn {taskname}
## shutdown
shutdown /r /t 0
shutdown /s /t 600 /c "Scheduled maintenance"
shutdown /a
shutdown /r /m \\{computer} /t 60
## gpupdate
gpupdate /force
gpupdate /target:computer /boot
## gpresult
gpresult /r
gpresult /h C:\Temp\gp-report.html /f
gpresult /scope user /v
## sfc
sfc /scannow
sfc /verifyfile=C:\Windows\System32\kernel32.dll
## dism
DISM /Online /Cleanup-Image /RestoreHealth
dism /online /enable-feature /featurename:NetFx3 /all /source:D:\sources\sxs /limitaccess
dism /Online /Get-Features /Format:Table
## chkdsk
chkdsk C: /f
chkdsk D: /scan
## fsutil
fsutil fsinfo drives
fsutil volume diskfree C:
fsutil file createnew C:\Temp\test.bin 104857600
## bcdedit
bcdedit /enum
bcdedit /set {current} safeboot minimal
## w32tm
w32tm /query /status
w32tm /resync /force
w32tm /config /manualpeerlist:"time.windows.com,0x9" /syncfromflags:manual /update
## wevtutil
wevtutil qe System /c:{n} /rd:true /f:text
wevtutil el
wevtutil epl Application C:\Logs\Application.evtx
wevtutil qe Security /q:"*[System[(EventID=4625)]]" /c:20 /f:text /rd:true
wevtutil cl Application
## wusa
wusa C:\Temp\windows10.0-{kb}-x64.msu /quiet /norestart
wusa /uninstall /kb:{kb} /quiet
## driverquery
driverquery /v /fo csv > drivers.csv
pnputil /enum-drivers
pnputil /add-driver C:\Drivers\*.inf /subdirs /install
## vssadmin
vssadmin list shadows
vssadmin list writers
vssadmin list shadowstorage
## quser
quser
query user /server:{computer}
logoff 2 /server:{computer}
## klist
klist
klist purge
nltest /dsgetdc:{wdomain}
nltest /sc_verify:{wdomain}
## dcdiag
dcdiag /v /c /e > C:\Temp\dcdiag.txt
repadmin /replsummary
repadmin /syncall /AdeP
## auditpol
auditpol /get /category:*
auditpol /set /subcategory:"Logon" /success:enable /failure:enable
## manage-bde
manage-bde -status
manage-bde -protectors -get C:
## mountvol
mountvol
subst X: {wdir}
## iisreset
iisreset /noforce
%windir%\system32\inetsrv\appcmd.exe list apppool
%windir%\system32\inetsrv\appcmd recycle apppool /apppool.name:"{wapp}AppPool"
## sqlcmd
sqlcmd -S {computer} -E -Q "SELECT @@VERSION"
sqlcmd -S SQL-PROD-01\INST01 -d {db} -i C:\Scripts\migrate.sql -o C:\Logs\migrate.log
sqlcmd -S localhost -U sa -P "%SA_PASSWORD%" -Q "BACKUP DATABASE [{db}] TO DISK = N'D:\Backups\{db}.bak' WITH COMPRESSION, INIT"

# --- installers, scripting hosts and LOLBins used legitimately
## msiexec
msiexec /i {msi} /qn /norestart
msiexec /x {guid} /qn
msiexec /i {msi} /quiet /l*v C:\Temp\install.log
msiexec /i {msi} /qn /norestart ALLUSERS=1 INSTALLDIR="C:\Program Files\{vendor}\{wapp}" SERVERURL=https://mgmt.{wdomain}:8443 TENANTID={uuid} PROXY=proxy.corp.example.com:3128 ADDLOCAL=Core,Updater,Telemetry REBOOT=ReallySuppress /l*v C:\Windows\Temp\{wapp}-install.log
msiexec.exe /i "\\FILESRV02\Deploy\{vendor}\{wapp}-{version}-x64.msi" TRANSFORMS="\\FILESRV02\Deploy\{vendor}\corp.mst" LICENSEKEY={hex} ENROLLMENT_TOKEN={b64} AUTOUPDATE=0 DESKTOPSHORTCUT=0 /qn
## certutil
certutil -hashfile {wpath} SHA256
certutil /hashfile {wpath} SHA256
CertUtil -store -user My
certutil -URLCache CRL
certutil -urlcache * delete
certutil -store My
certutil -addstore -f Root C:\Temp\corp-root-ca.cer
certutil -verify -urlfetch C:\Temp\server.cer
certutil -decode C:\Temp\cert.b64 C:\Temp\cert.cer
certutil -viewstore -enterprise NTAuth
certutil -pulse
## bitsadmin
bitsadmin /list /allusers /verbose
bitsadmin /transfer {wapp}Update /download /priority normal {wurl} C:\Temp\{wapp}Setup.exe
bitsadmin /reset /allusers
## rundll32
rundll32.exe printui.dll,PrintUIEntry /in /n {printer}
rundll32 sysdm.cpl,EditEnvironmentVariables
rundll32.exe user32.dll,LockWorkStation
rundll32.exe shell32.dll,Control_RunDLL desk.cpl
rundll32 inetcpl.cpl,ClearMyTracksByProcess 8
## regsvr32
regsvr32 /s {dll}
regsvr32 /u /s "C:\Program Files\{vendor}\{wapp}\shellext.dll"
%windir%\SysWOW64\regsvr32.exe /s msxml6.dll
## mshta
mshta.exe "C:\Program Files\{vendor}\{wapp}\setup.hta"
mshta {share}\IT\tools\inventory.hta
## cscript
cscript //nologo C:\Windows\System32\slmgr.vbs /dlv
cscript //B C:\Scripts\logon.vbs
cscript C:\Windows\System32\Printing_Admin_Scripts\en-US\prnmngr.vbs -l
wscript.exe {share}\IT\logon\mapdrives.vbs
## powershell.exe
powershell.exe -NoProfile -ExecutionPolicy Bypass -File {psfile}
powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {psenc}
powershell -NoLogo -Noninteractive -ExecutionPolicy Bypass -enc {psenc}
powershell.exe -executionPolicy bypass -file "C:\Program Files (x86)\Microsoft Intune Management Extension\Policies\Scripts\{uuid}_1.ps1"
PowerShell -NoP -File C:\PROGRA~1\{wapp}\Scripts\check.ps1
powershell -Command "Get-Service {wsvc} | Restart-Service"
powershell.exe -NoLogo -NonInteractive -Command "Get-ChildItem C:\Logs -Recurse | Where-Object LastWriteTime -lt (Get-Date).AddDays(-{days}) | Remove-Item -Force"
powershell -ExecutionPolicy RemoteSigned -File .\build.ps1 -Configuration Release -Version {version}
pwsh -NoProfile -File {psfile} -Verbose
powershell.exe -NoProfile -Command "& {Import-Module ActiveDirectory; Get-ADUser -Filter * -SearchBase 'OU=Users,DC=corp,DC=example,DC=com' | Measure-Object}"
## cmd.exe
cmd /c {wpath}
cmd.exe /c "cd /d C:\Scripts && deploy.cmd {wapp} {version}"
cmd /k "C:\Program Files\Microsoft Visual Studio\2022\Enterprise\VC\Auxiliary\Build\vcvars64.bat"
C:\Windows\system32\cmd.exe /c C:\Scripts\logon.bat
## start
start "" "C:\Program Files\{vendor}\{wapp}\{wapp}.exe"
start /wait {msi}
start https://intranet.{wdomain}/
start /min cmd /c C:\Scripts\sync.cmd
## timeout
timeout /t 30 /nobreak
timeout /t 5 >nul
## call
call C:\Scripts\env.cmd
call "%VS170COMNTOOLS%\VsDevCmd.bat" -arch=x64
## for
for /f "tokens=2 delims=:" %a in ('ipconfig ^| findstr IPv4') do echo %a
for %f in (*.{wext}) do move "%f" {wdir}
for /l %i in (1,1,{n}) do ping -n 1 192.168.1.%i | find "TTL="
for /r C:\Logs %f in (*.log) do @echo %~nxf %~zf
## if
if exist {wpath} del {wpath}
if not exist {wdir} mkdir {wdir}
if %ERRORLEVEL% neq 0 exit /b %ERRORLEVEL%
## pushd
pushd {share}
pushd %~dp0 && call install.cmd && popd
## runas
runas /user:{duser} cmd
runas /netonly /user:CORP\{wuser} "mmc dsa.msc"
## winget
winget install --id Git.Git -e --source winget
winget upgrade --all --silent
winget list
winget install Microsoft.PowerShell --accept-package-agreements --accept-source-agreements
## choco
choco install -y {chocopkg}
choco upgrade all -y
choco install googlechrome 7zip notepadplusplus vscode git -y --no-progress
## dotnet
dotnet build -c Release
dotnet run --project src\{wapp}\{wapp}.csproj
dotnet test --no-build --logger trx
dotnet publish -c Release -r win-x64 --self-contained -o C:\Deploy\{wapp}
dotnet tool install -g dotnet-ef
dotnet nuget add source https://nuget.{wdomain}/v3/index.json -n corp -u {wuser} -p {b64} --store-password-in-clear-text
## git
git clone {remote} C:\src\{wapp}
git pull
git status
git config --global core.autocrlf true
## python
python -m pip install --upgrade pip
py -3.12 -m venv .venv && .venv\Scripts\activate
python C:\Scripts\report.py --out {wpath}
## java
java -jar C:\Tools\{wapp}\{wapp}.jar --server.port={port}
"C:\Program Files\Java\jdk-17\bin\keytool.exe" -list -keystore C:\certs\truststore.jks
java -Xmx2g -Dlog4j2.formatMsgNoLookups=true -jar C:\Apps\{wapp}\{wapp}.jar
## wsl
wsl --list --verbose
wsl -d Ubuntu -- sudo apt update
wsl --shutdown
## docker
docker ps
docker run -d -p {port}:80 --name {wapp} mcr.microsoft.com/windows/servercore/iis
docker build -t {wapp}:{version} .

# --- script idioms: FOR /F over command output, escaped pipes, ACLs and SDDL strings
## for /f
for /f "tokens=2 delims=," %i in ('tasklist /fo csv /nh ^| findstr /i {wproc}') do @echo %~i
for /f "usebackq delims=" %a in (`where {exe}`) do @echo %~dpa
for /f "skip=1 tokens=*" %d in ('wmic logicaldisk get caption') do @echo %d
for /f "tokens=1,2 delims==" %a in ('set ^| findstr /b JAVA') do @echo %a is %b
for /r {wdir} %f in (*.{wext}) do @echo %~nxf %~zf
for %s in ({computer} FILESRV01 WEB01) do @ping -n 1 %s ^| find "TTL="
## icacls
icacls {wpath} /grant "{wuser}:(OI)(CI)M" /T
icacls "C:\ProgramData\{vendor}" /inheritance:r /grant:r "Administrators:(OI)(CI)F" "SYSTEM:(OI)(CI)F"
## sc sdshow
sc sdshow {wsvc}
sc sdset {wsvc} D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)(A;;CCLCSWLOCRRC;;;IU)
## if exist
if exist "%ProgramFiles%\{vendor}\{wapp}\" (echo installed) else (echo missing)
if not defined JAVA_HOME set "JAVA_HOME=C:\Program Files\Java\jdk-17" & set "PATH=%JAVA_HOME%\bin;%PATH%"
if %ERRORLEVEL% NEQ 0 (echo build failed & exit /b %ERRORLEVEL%)
# --- process command lines as EDR telemetry records them
## chrome.exe
"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle={pid} --field-trial-handle=1904,i,{pid}{pid},{pid},262144 /prefetch:8
"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --device-scale-factor=1 --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id={n} --mojo-platform-channel-handle={pid} /prefetch:1
"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --profile-directory=Default --app-id={hex} --app-url=https://outlook.office.com/mail/
## svchost.exe
C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule
C:\Windows\System32\svchost.exe -k LocalServiceNetworkRestricted -p -s Dhcp
C:\Windows\system32\svchost.exe -k DcomLaunch -p
## Office
"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\{wuser}\Documents\report.docx" /o ""
"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE" "\\FILESRV02\Shares\Finance\Budget 2024.xlsx"
"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE" /recycle
## Teams.exe
"C:\Users\{wuser}\AppData\Local\Microsoft\Teams\current\Teams.exe" --type=renderer --autoplay-policy=no-user-gesture-required --disable-background-timer-throttling --lang=en-US --app-path="C:\Users\{wuser}\AppData\Local\Microsoft\Teams\current\resources\app.asar" --renderer-client-id={n} --mojo-platform-channel-handle={pid} /prefetch:1
## system processes
C:\Windows\system32\conhost.exe 0xffffffff -ForceV1
C:\Windows\system32\DllHost.exe /Processid:{guid}
C:\Windows\System32\RuntimeBroker.exe -Embedding
"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24030.9-0\MsMpEng.exe"
C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding
"C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n}_ Global\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon"
"C:\WINDOWS\CCM\CcmExec.exe"
C:\Windows\CCM\SensorLogonTask.exe
## Zoom.exe
"C:\Users\{wuser}\AppData\Roaming\Zoom\bin\Zoom.exe" "--url=zoommtg://zoom.us/join?action=join&confno={pid}{n}&pwd={hex}"
## javaw.exe
"C:\Program Files\Java\jre1.8.0_391\bin\javaw.exe" -Xmx1024m -Djava.library.path="C:\Program Files\{vendor}\{wapp}\lib" -classpath "C:\Program Files\{vendor}\{wapp}\lib\*" com.acme.{wapp}.Main --config "C:\ProgramData\{vendor}\{wapp}\settings.json"
## OneDrive.exe
"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background
"C:\Users\{wuser}\AppData\Local\Microsoft\OneDrive\OneDrive.exe" /updateInstalled /background
## installer processes
"C:\Users\{wuser}\Downloads\{wapp}Setup-{version}.exe" /S /D=C:\Tools\{wapp}
"C:\Windows\Temp\{guid}\vc_redist.x64.exe" /install /quiet /norestart /log "C:\Windows\Temp\vcredist.log"
C:\Windows\system32\msiexec.exe /V
C:\Windows\syswow64\MsiExec.exe -Embedding {hex} E Global\MSI0000
""")

POWERSHELL: dict[str, list[str]] = _parse(r"""
# --- files and items
## Get-ChildItem
Get-ChildItem -Path {wdir} -Recurse -Filter *.{wext}
GCI {wdir} -Recurse -Filter *.{wext}
get-childitem -path {wdir} -rec
Get-ChildItem "C:\Program Files\Common Files" -Directory
dir C:\PROGRA~1 -Force
Get-ChildItem {wdir} -Recurse -File | Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-{days}) } | Remove-Item -Force
gci -Force
Get-ChildItem -Path C:\Users -Directory | Select-Object Name, LastWriteTime
Get-ChildItem {wdir} -Recurse | Sort-Object Length -Descending | Select-Object -First 20 FullName, @{Name='SizeMB';Expression={[math]::Round($_.Length / 1MB, 1)}}
Get-ChildItem Cert:\LocalMachine\My | Where-Object { $_.NotAfter -lt (Get-Date).AddDays(30) } | Select-Object Subject, Thumbprint, NotAfter
ls env:
## Get-Item
Get-Item {wpath} | Select-Object FullName, Length, LastWriteTime
(Get-Item {wpath}).VersionInfo
## New-Item
New-Item -ItemType Directory -Path {wdir}\{wapp} -Force
New-Item -Path $PROFILE -ItemType File -Force
New-Item -ItemType SymbolicLink -Path C:\Tools\current -Target C:\Tools\{wapp}-{version}
New-Item -Path 'HKCU:\Software\{vendor}\{wapp}' -Force
## Copy-Item
Copy-Item {wpath} -Destination {wdir} -Force
Copy-Item -Path {wdir}\* -Destination {share}\{wuser} -Recurse -Container
Copy-Item -Path .\dist\* -Destination \\WEB01\c$\inetpub\wwwroot\{wapp} -Recurse -Force -Verbose
## Move-Item
Move-Item -Path {wdir}\*.{wext} -Destination D:\Archive\
Move-Item {wpath} {wdir} -Force
## Remove-Item
Remove-Item {wpath} -Force
Remove-Item -Recurse -Force .\node_modules, .\dist
Remove-Item "$env:TEMP\*" -Recurse -Force -ErrorAction SilentlyContinue
## Rename-Item
Rename-Item -Path {wpath} -NewName old-{wfile}
Get-ChildItem *.jpeg | Rename-Item -NewName { $_.Name -replace '\.jpeg$', '.jpg' }
## Get-Content
Get-Content {wpath} -Tail {n}
Get-Content C:\Logs\{wapp}.log -Wait
Get-Content .\servers.txt | ForEach-Object { Test-Connection $_ -Count 1 -Quiet }
(Get-Content {wpath} -Raw | ConvertFrom-Json).version
gc {wpath} | Select-String -Pattern {wpattern}
## Set-Content
Set-Content -Path {wpath} -Value "Updated $(Get-Date -Format s)"
(Get-Content .\web.config) -replace 'Debug="true"', 'Debug="false"' | Set-Content .\web.config
## Add-Content
Add-Content -Path C:\Windows\System32\drivers\etc\hosts -Value "{ip} {computer}.{wdomain}"
Add-Content C:\Logs\deploy.log "$(Get-Date -Format o) deployed {wapp} {version}"
## Out-File
Get-Process | Out-File C:\Temp\processes.txt
Get-Service | Where-Object Status -eq Stopped | Out-File -FilePath C:\Logs\stopped.txt -Encoding utf8
## Select-String
Select-String -Path C:\Logs\*.log -Pattern {wpattern}
Select-String -Path .\*.cs -Pattern 'TODO' -SimpleMatch | Group-Object Path | Sort-Object Count -Descending
## Test-Path
Test-Path {wpath}
if (-not (Test-Path {wdir})) { New-Item -ItemType Directory -Path {wdir} | Out-Null }
## Join-Path
Join-Path $env:ProgramData '{vendor}\{wapp}'
Split-Path -Parent $MyInvocation.MyCommand.Path
## Set-Location
Set-Location {wdir}
cd $env:USERPROFILE\source\repos\{wapp}
Push-Location C:\Scripts; .\Deploy.ps1; Pop-Location
## Expand-Archive
Expand-Archive -Path {wdir}\{wapp}-{version}.zip -DestinationPath C:\Tools\{wapp} -Force
Expand-Archive .\release.zip -DestinationPath .\release
## Compress-Archive
Compress-Archive -Path C:\Logs\* -DestinationPath "D:\Backups\logs-$(Get-Date -Format yyyyMMdd).zip"
Compress-Archive -Path .\bin\Release\* -DestinationPath .\{wapp}-{version}.zip -CompressionLevel Optimal -Force
## Get-FileHash
Get-FileHash {wpath} -Algorithm SHA256
Get-FileHash .\{wapp}Setup.exe | Format-List
(Get-FileHash -Algorithm SHA256 .\{wapp}-{version}.zip).Hash -eq '{sha256}'
## Get-Acl
Get-Acl {wdir} | Format-List
Get-Acl -Path {wdir} | Set-Acl -Path {wdir2}
## Unblock-File
Unblock-File -Path {psfile}
Get-ChildItem C:\Tools\{wapp} -Recurse | Unblock-File

# --- processes and services
## Get-Process
Get-Process
Get-Process | Sort-Object CPU -Descending | Select-Object -First 10 Name, Id, CPU, WorkingSet
Get-Process -Name {wproc} -ErrorAction SilentlyContinue
Get-Process -IncludeUserName | Where-Object UserName -like '*{wuser}*'
ps | Where-Object { $_.WorkingSet -gt 500MB }
## Stop-Process
Stop-Process -Name {wproc} -Force
Stop-Process -Id {pid}
Get-Process {wproc} | Stop-Process
## Start-Process
Start-Process notepad.exe {wpath}
Start-Process -FilePath msiexec.exe -ArgumentList '/i', '{msi}', '/qn', '/norestart' -Wait
Start-Process powershell -Verb RunAs
Start-Process -FilePath "C:\Program Files\{vendor}\{wapp}\{wapp}.exe" -ArgumentList '--silent --config C:\ProgramData\{vendor}\{wapp}\config.json' -WindowStyle Hidden
Start-Process https://intranet.{wdomain}/
## Get-Service
Get-Service
Get-Service -Name {wsvc}
Get-Service | Where-Object { $_.Status -eq 'Running' } | Sort-Object DisplayName
Get-Service -ComputerName {computer} -Name {wsvc}
Get-Service | Where-Object { $_.StartType -eq 'Automatic' -and $_.Status -ne 'Running' }
## Restart-Service
Restart-Service -Name {wsvc} -Force
Restart-Service {wsvc}
## Start-Service
Start-Service -Name {wsvc}
Stop-Service -Name {wsvc} -Force
## Set-Service
Set-Service -Name {wsvc} -StartupType Automatic
Set-Service -Name {wsvc} -StartupType Disabled -Status Stopped
## New-Service
New-Service -Name {wapp}Agent -BinaryPathName '"C:\Program Files\{vendor}\{wapp}\agent.exe" --service' -DisplayName "{vendor} {wapp} Agent" -StartupType Automatic
## Get-CimInstance
Get-CimInstance Win32_OperatingSystem | Select-Object Caption, Version, LastBootUpTime
Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DriveType=3" | Select-Object DeviceID, @{n='FreeGB';e={[math]::Round($_.FreeSpace/1GB,1)}}
Get-CimInstance -ComputerName {computer} Win32_BIOS
Get-CimInstance Win32_Process -Filter "Name = '{exe}'" | Select-Object ProcessId, CommandLine
## Get-WmiObject
Get-WmiObject -Class Win32_ComputerSystem
Get-WmiObject Win32_Product | Where-Object Name -like '*{vendor}*'
## Invoke-Command
Invoke-Command -ComputerName {computer} -ScriptBlock { Get-Service {wsvc} }
Invoke-Command -ComputerName (Get-Content .\servers.txt) -ScriptBlock { Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 1 } -Credential $cred
Invoke-Command -Session $s -FilePath C:\Scripts\Get-Inventory.ps1
## Enter-PSSession
Enter-PSSession -ComputerName {computer}
Enter-PSSession -ComputerName {computer}.{wdomain} -Credential CORP\{wuser}
$s = New-PSSession -ComputerName {computer} -Credential (Get-Credential)
## Get-ScheduledTask
Get-ScheduledTask | Where-Object State -eq Ready | Select-Object TaskName, TaskPath
Get-ScheduledTask -TaskName {taskname} | Get-ScheduledTaskInfo
Start-ScheduledTask -TaskName "\Acme\NightlyBackup"
## Register-ScheduledTask
Register-ScheduledTask -TaskName "Nightly {wapp} Backup" -Action (New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-NoProfile -File C:\Scripts\Backup.ps1') -Trigger (New-ScheduledTaskTrigger -Daily -At 2am) -User SYSTEM -RunLevel Highest
Unregister-ScheduledTask -TaskName {taskname} -Confirm:$false


# --- network and web
## Invoke-WebRequest
Invoke-WebRequest -Uri {wurl} -OutFile $env:TEMP\{wapp}Setup.exe
Invoke-WebRequest {wurl} -UseBasicParsing | Select-Object StatusCode
iwr -useb https://{domain}/api/v1/status
Invoke-WebRequest -Uri https://api.{domain}/v2/deployments -Method Post -Headers @{Authorization = "Bearer {token}"} -ContentType 'application/json' -Body '{json}'
Invoke-WebRequest -Uri {wurl} -Proxy http://proxy.corp.example.com:3128 -ProxyUseDefaultCredentials -OutFile C:\Temp\{wapp}.zip
## Invoke-RestMethod
Invoke-RestMethod -Uri https://api.{domain}/v1/{app}/status
Invoke-RestMethod -Method Post -Uri https://api.{domain}/v1/tickets -Body '{json}' -ContentType 'application/json'
Invoke-RestMethod -Uri "https://dev.azure.com/acme/{app}/_apis/build/builds?api-version=7.0" -Headers @{Authorization = "Basic {b64}"}
$r = Invoke-RestMethod -Uri https://api.github.com/repos/acme/{app}/releases/latest; $r.tag_name
Invoke-RestMethod -Uri https://hooks.slack.com/services/T0{hex}/B0{hex2}/{b64} -Method Post -Body (@{text = "Backup on $env:COMPUTERNAME finished"} | ConvertTo-Json) -ContentType 'application/json'
## Test-NetConnection
Test-NetConnection {computer} -Port {port}
Test-NetConnection -ComputerName {domain} -Port 443 -InformationLevel Detailed
tnc {ip} -Port 3389
Test-NetConnection -ComputerName {computer} -TraceRoute
## Test-Connection
Test-Connection {computer} -Count 2
Test-Connection -ComputerName (Get-Content .\hosts.txt) -Count 1 -Quiet
## Resolve-DnsName
Resolve-DnsName {domain}
Resolve-DnsName -Name _ldap._tcp.dc._msdcs.{wdomain} -Type SRV
Resolve-DnsName {computer}.{wdomain} -Server {ip}
## Get-NetIPAddress
Get-NetIPAddress -AddressFamily IPv4 | Format-Table InterfaceAlias, IPAddress, PrefixLength
Get-NetIPConfiguration
New-NetIPAddress -InterfaceAlias 'Ethernet' -IPAddress {ip} -PrefixLength 24 -DefaultGateway 192.168.1.1
## Get-NetTCPConnection
Get-NetTCPConnection -State Listen | Sort-Object LocalPort
Get-NetTCPConnection -LocalPort {port} | Select-Object LocalAddress, RemoteAddress, State, OwningProcess
Get-NetTCPConnection -State Established | Group-Object RemoteAddress | Sort-Object Count -Descending | Select-Object -First 10
## Get-NetAdapter
Get-NetAdapter | Where-Object Status -eq 'Up'
Restart-NetAdapter -Name 'Ethernet'
## New-NetFirewallRule
New-NetFirewallRule -DisplayName "Allow {wapp} {port}" -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow
Get-NetFirewallRule -Enabled True | Where-Object Direction -eq Inbound | Select-Object DisplayName, Profile
Set-NetFirewallProfile -Profile Domain,Public,Private -Enabled True
## Get-DnsClientCache
Get-DnsClientCache | Where-Object Entry -like '*{wdomain}*'
Clear-DnsClientCache
Set-DnsClientServerAddress -InterfaceAlias 'Ethernet' -ServerAddresses ('{ip}', '10.0.0.53')
## Get-SmbShare
Get-SmbShare
New-SmbShare -Name {wapp} -Path D:\Shares\{wapp} -FullAccess 'CORP\Domain Admins' -ChangeAccess 'CORP\{wuser}'
Get-SmbSession | Select-Object ClientComputerName, ClientUserName, NumOpens
## New-PSDrive
New-PSDrive -Name S -PSProvider FileSystem -Root {share} -Persist
New-PSDrive -Name HKCR -PSProvider Registry -Root HKEY_CLASSES_ROOT
## Start-BitsTransfer
Start-BitsTransfer -Source {wurl} -Destination C:\Temp\
Get-BitsTransfer -AllUsers
## Send-MailMessage
Send-MailMessage -To ops@{wdomain} -From reports@{wdomain} -Subject "Disk report $env:COMPUTERNAME" -Body $body -SmtpServer smtp.{wdomain} -Attachments C:\Temp\report.csv

# --- Active Directory and accounts
## Get-ADUser
Get-ADUser {wuser} -Properties *
Get-ADUser -Filter "Enabled -eq 'True'" -SearchBase {ou} -Properties LastLogonDate | Where-Object LastLogonDate -lt (Get-Date).AddDays(-90)
Get-ADUser -Identity {wuser} -Properties MemberOf, PasswordLastSet, LockedOut | Select-Object Name, PasswordLastSet, LockedOut
Get-ADUser -Filter {Name -like '*smith*'} | Select-Object SamAccountName, UserPrincipalName
## Get-ADComputer
Get-ADComputer -Filter * -SearchBase {ou} | Measure-Object
Get-ADComputer {computer} -Properties OperatingSystem, LastLogonDate
## Get-ADGroupMember
Get-ADGroupMember -Identity {adgroup} -Recursive | Select-Object Name, SamAccountName
Add-ADGroupMember -Identity {adgroup} -Members {wuser}
Remove-ADGroupMember -Identity {adgroup} -Members {wuser} -Confirm:$false
## New-ADUser
New-ADUser -Name "Priya Natarajan" -GivenName Priya -Surname Natarajan -SamAccountName priya.n -UserPrincipalName priya.n@corp.example.com -Path {ou} -AccountPassword (Read-Host -AsSecureString 'Password') -Enabled $true -ChangePasswordAtLogon $true -Department Finance -Title 'Financial Analyst'
## Set-ADAccountPassword
Set-ADAccountPassword -Identity {wuser} -Reset -NewPassword (Read-Host -AsSecureString 'New password')
Unlock-ADAccount -Identity {wuser}
Set-ADUser {wuser} -Replace @{title='Team Lead'; department='IT'}
Disable-ADAccount -Identity {wuser}
Search-ADAccount -LockedOut | Select-Object Name, LastLogonDate
## Get-LocalUser
Get-LocalUser
New-LocalUser -Name {wuser} -Password (Read-Host -AsSecureString) -FullName 'Kiosk User' -Description 'Reception kiosk'
Add-LocalGroupMember -Group Administrators -Member {duser}
Get-LocalGroupMember -Group 'Remote Desktop Users'
## Get-Credential
$cred = Get-Credential CORP\{wuser}
$cred = Import-Clixml -Path C:\Secure\{wuser}.cred

# --- modules and packages
## Install-Module
Install-Module -Name {psmod} -Scope CurrentUser -Force
Install-Module {psmod} -Repository PSGallery -AllowClobber
Install-Module -Name {psmod} -RequiredVersion 2.1.0 -Scope AllUsers -Force -SkipPublisherCheck
## Import-Module
Import-Module {psmod}
Import-Module ActiveDirectory
Import-Module .\build\{wapp}.psd1 -Force
## Update-Module
Update-Module -Name {psmod}
Get-InstalledModule | Update-Module -Force
## Find-Module
Find-Module -Name {psmod}
Find-Module -Tag Azure | Select-Object -First 10 Name, Version
## Get-Module
Get-Module -ListAvailable
Get-Module {psmod} -ListAvailable | Select-Object Name, Version, Path
## Set-ExecutionPolicy
Set-ExecutionPolicy RemoteSigned -Scope CurrentUser
Set-ExecutionPolicy -ExecutionPolicy Bypass -Scope Process -Force
Get-ExecutionPolicy -List
## Install-Package
Install-PackageProvider -Name NuGet -MinimumVersion 2.8.5.201 -Force
Get-Package | Where-Object Name -like '*{vendor}*'
Register-PSRepository -Name CorpGallery -SourceLocation https://nuget.{wdomain}/api/v2 -InstallationPolicy Trusted
## Get-AppxPackage
Get-AppxPackage -AllUsers | Select-Object Name, Version
Get-AppxPackage *xbox* | Remove-AppxPackage
## Install-WindowsFeature
Install-WindowsFeature -Name Web-Server -IncludeManagementTools
Get-WindowsFeature | Where-Object InstallState -eq Installed
Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Windows-Subsystem-Linux -NoRestart
## Get-HotFix
Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5
Get-HotFix -Id {kb} -ComputerName {computer}
## Get-WindowsUpdate
Get-WindowsUpdate -MicrosoftUpdate
Install-WindowsUpdate -AcceptAll -AutoReboot


# --- registry, events, system
## Get-ItemProperty
Get-ItemProperty {psregpath}
Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*' | Select-Object DisplayName, DisplayVersion, Publisher | Sort-Object DisplayName
(Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion').DisplayVersion
## Set-ItemProperty
Set-ItemProperty -Path {psregpath} -Name {regval} -Value 1
Set-ItemProperty -Path 'HKCU:\Control Panel\Desktop' -Name WallPaper -Value '\\FILESRV02\Shares\IT\wallpaper.jpg'
New-ItemProperty -Path {psregpath} -Name {regval} -Value 0 -PropertyType DWord -Force
Remove-ItemProperty -Path {psregpath} -Name {regval}
## Get-WinEvent
Get-WinEvent -LogName {evlog} -MaxEvents {n}
Get-WinEvent -FilterHashtable @{LogName='Security'; Id={evid}; StartTime=(Get-Date).AddHours(-24)} | Select-Object TimeCreated, Id, Message
Get-WinEvent -FilterHashtable @{LogName='System'; Level=2} -MaxEvents 20 | Format-Table TimeCreated, ProviderName, Message -AutoSize -Wrap
Get-WinEvent -ComputerName {computer} -LogName Application -MaxEvents 50 | Where-Object LevelDisplayName -eq 'Error'
Get-WinEvent -Path C:\Logs\Application.evtx -MaxEvents 100
Get-WinEvent -ListLog * | Where-Object RecordCount -gt 0 | Sort-Object RecordCount -Descending
## Get-EventLog
Get-EventLog -LogName System -Newest {n}
Get-EventLog -LogName Application -EntryType Error -After (Get-Date).AddDays(-1)
Get-EventLog -LogName Security -InstanceId {evid} -Newest 20
## Get-ComputerInfo
Get-ComputerInfo | Select-Object OsName, OsVersion, CsTotalPhysicalMemory
Get-ComputerInfo -Property WindowsProductName, OsBuildNumber
## Restart-Computer
Restart-Computer -Force
Restart-Computer -ComputerName {computer} -Wait -For PowerShell -Timeout 600 -Delay 5
Stop-Computer -ComputerName {computer} -Force
Rename-Computer -NewName {computer} -Restart
Add-Computer -DomainName {wdomain} -OUPath {ou} -Credential CORP\{wuser} -Restart
## Get-Disk
Get-Disk
Get-Volume | Where-Object DriveLetter | Select-Object DriveLetter, FileSystemLabel, @{n='FreeGB';e={[math]::Round($_.SizeRemaining/1GB,1)}}
Get-PSDrive -PSProvider FileSystem
Initialize-Disk -Number 1 -PartitionStyle GPT; New-Partition -DiskNumber 1 -UseMaximumSize -AssignDriveLetter | Format-Volume -FileSystem NTFS -NewFileSystemLabel Data
Optimize-Volume -DriveLetter C -ReTrim -Verbose
## Get-Counter
Get-Counter '\Processor(_Total)\% Processor Time' -SampleInterval 2 -MaxSamples 5
Get-Counter -ComputerName {computer} '\Memory\Available MBytes'
## Get-MpComputerStatus
Get-MpComputerStatus | Select-Object AntivirusEnabled, RealTimeProtectionEnabled, AntivirusSignatureLastUpdated
Update-MpSignature
Start-MpScan -ScanType QuickScan
Get-MpThreatDetection
## Clear-RecycleBin
Clear-RecycleBin -Force
Get-Clipboard
Set-Clipboard -Value (Get-Content {wpath} -Raw)
## Start-Transcript
Start-Transcript -Path "C:\Logs\session-$(Get-Date -Format yyyyMMdd-HHmm).txt" -Append
Stop-Transcript
Get-History | Select-Object -Last 20

# --- certificates
## New-SelfSignedCertificate
New-SelfSignedCertificate -DnsName {computer}.{wdomain} -CertStoreLocation Cert:\LocalMachine\My
New-SelfSignedCertificate -Subject "CN={wapp} Code Signing" -Type CodeSigningCert -CertStoreLocation Cert:\CurrentUser\My -NotAfter (Get-Date).AddYears(2)
## Import-Certificate
Import-Certificate -FilePath C:\Temp\corp-root-ca.cer -CertStoreLocation Cert:\LocalMachine\Root
Import-PfxCertificate -FilePath C:\Temp\{wapp}.pfx -CertStoreLocation Cert:\LocalMachine\My -Password (Read-Host -AsSecureString)
[IO.File]::WriteAllBytes('C:\Temp\corp-root-ca.cer', [Convert]::FromBase64String('{cert}')); Import-Certificate -FilePath C:\Temp\corp-root-ca.cer -CertStoreLocation Cert:\LocalMachine\Root
Set-Content -Path C:\certs\intermediate.b64 -Value '{cert}'
## Export-Certificate
Get-ChildItem Cert:\LocalMachine\My\{hex} | Export-Certificate -FilePath C:\Temp\server.cer
Export-PfxCertificate -Cert Cert:\LocalMachine\My\{hex} -FilePath C:\Backups\{wapp}.pfx -Password $pfxPassword
## Get-AuthenticodeSignature
Get-AuthenticodeSignature {psfile}
Get-AuthenticodeSignature "C:\Program Files\{vendor}\{wapp}\{wapp}.exe" | Format-List
Set-AuthenticodeSignature -FilePath .\Deploy.ps1 -Certificate (Get-ChildItem Cert:\CurrentUser\My -CodeSigningCert)

# --- cloud, Exchange, SQL, Hyper-V
## Connect-AzAccount
Connect-AzAccount -Tenant {uuid}
Connect-AzAccount -ServicePrincipal -Credential $spCred -Tenant {uuid}
Set-AzContext -Subscription {uuid}
## Get-AzVM
Get-AzVM -ResourceGroupName rg-{app}-prod -Status
Start-AzVM -ResourceGroupName rg-{app}-dev -Name vm-{app}-01
Get-AzStorageAccount | Select-Object StorageAccountName, Location, SkuName
New-AzResourceGroupDeployment -ResourceGroupName rg-{app}-prod -TemplateFile .\main.bicep -TemplateParameterObject @{environment='prod'; imageTag='{version}'; replicaCount={n}}
## Connect-ExchangeOnline
Connect-ExchangeOnline -UserPrincipalName admin@{wdomain}
Get-Mailbox -ResultSize Unlimited | Select-Object DisplayName, PrimarySmtpAddress
Get-MessageTrace -SenderAddress {wuser}@corp.example.com -StartDate (Get-Date).AddDays(-2) -EndDate (Get-Date)
Set-Mailbox -Identity {wuser} -ForwardingSmtpAddress $null
## Connect-MgGraph
Connect-MgGraph -Scopes 'User.Read.All','Group.Read.All'
Get-MgUser -Filter "startswith(displayName,'Priya')" -Property Id, DisplayName, UserPrincipalName
Get-MgUser -All | Where-Object { -not $_.AccountEnabled } | Measure-Object
## Invoke-Sqlcmd
Invoke-Sqlcmd -ServerInstance {computer} -Database {db} -Query "SELECT TOP 10 * FROM dbo.{table} ORDER BY CreatedAt DESC"
Invoke-Sqlcmd -ServerInstance 'SQL-PROD-01\INST01' -InputFile C:\Scripts\migrate.sql -QueryTimeout 600
Backup-SqlDatabase -ServerInstance SQL-PROD-01 -Database {db} -BackupFile "D:\Backups\{db}_$(Get-Date -Format yyyyMMdd).bak" -CompressionOption On
## Get-VM
Get-VM | Select-Object Name, State, CPUUsage, MemoryAssigned
Start-VM -Name {computer}
Checkpoint-VM -Name {computer} -SnapshotName "Before update $(Get-Date -Format yyyy-MM-dd)"
Get-VM -ComputerName HV-HOST-03 | Where-Object State -eq 'Running'

# --- pipeline utilities and scripting
## Where-Object
Get-Service | Where-Object { $_.Name -like 'Win*' }
Get-ChildItem -Recurse | Where-Object { $_.Length -gt 100MB } | Select-Object FullName, Length
## ForEach-Object
Get-Content .\computers.txt | ForEach-Object { Get-Service -ComputerName $_ -Name {wsvc} }
1..{n} | ForEach-Object { Invoke-WebRequest -Uri http://localhost:{port}/health -UseBasicParsing | Select-Object -ExpandProperty StatusCode }
foreach ($s in Get-Content .\servers.txt) { Test-NetConnection $s -Port 443 | Select-Object ComputerName, TcpTestSucceeded }
## Select-Object
Get-Process | Select-Object -Property Name, Id, @{Name='MemMB';Expression={[int]($_.WorkingSet64/1MB)}} | Sort-Object MemMB -Descending
Get-Service | Select-Object -First {n}
## Sort-Object
Get-ChildItem {wdir} | Sort-Object LastWriteTime -Descending | Select-Object -First 5
Get-Process | Sort-Object WS -Descending | Format-Table -AutoSize
## Group-Object
Get-WinEvent -LogName System -MaxEvents 1000 | Group-Object ProviderName | Sort-Object Count -Descending | Select-Object -First 10 Count, Name
## Measure-Object
Get-ChildItem {wdir} -Recurse -File | Measure-Object -Property Length -Sum
(Get-Content {wpath} | Measure-Object -Line).Lines
## Export-Csv
Get-ADUser -Filter * -Properties Department | Select-Object Name, Department | Export-Csv C:\Temp\users.csv -NoTypeInformation
Get-Service | Export-Csv -Path C:\Temp\services-$env:COMPUTERNAME.csv -NoTypeInformation -Encoding UTF8
## Import-Csv
Import-Csv .\new-users.csv | ForEach-Object { New-ADUser -Name $_.Name -SamAccountName $_.Sam -Path {ou} -Enabled $true -AccountPassword (ConvertTo-SecureString $_.TempPassword -AsPlainText -Force) }
Import-Csv {wpath} | Where-Object Status -eq 'Active' | Measure-Object
## ConvertTo-Json
Get-Process | Select-Object Name, Id, CPU | ConvertTo-Json -Depth 2 | Out-File .\procs.json
@{name='{wapp}'; version='{version}'; enabled=$true} | ConvertTo-Json
## ConvertFrom-Json
Get-Content .\appsettings.json -Raw | ConvertFrom-Json
'{json}' | ConvertFrom-Json | Format-List
## Get-Date
Get-Date -Format 'yyyy-MM-dd HH:mm:ss'
(Get-Date).AddDays(-{days}).ToString('yyyy-MM-dd')
[DateTime]::UtcNow.ToString('o')
## Start-Sleep
Start-Sleep -Seconds {n}
Start-Sleep -Seconds (5*60)
while (-not (Test-NetConnection {computer} -Port 3389 -InformationLevel Quiet)) { Start-Sleep -Seconds 10 }
## Write-Host
Write-Host "Deploying {wapp} {version} to $env:COMPUTERNAME" -ForegroundColor Green
Write-Output $PSVersionTable
Write-Host "Free: $([math]::Round($disk.FreeSpace / 1GB, 1)) GB on $($disk.DeviceID)"
Get-ChildItem {wdir} | Where-Object { $_.LastWriteTime -lt $((Get-Date).AddDays(-30)) } | Remove-Item -WhatIf
Write-Verbose "Copying files to {share}" -Verbose
## Get-Command
Get-Command -Module {psmod}
Get-Command *-AD* | Measure-Object
Get-Command git | Select-Object Source
Get-Command -Name *Service* -CommandType Cmdlet
& (Get-Command python).Source -m pip list --outdated
Get-Alias -Definition Get-ChildItem
## Get-Help
Get-Help Get-WinEvent -Examples
Get-Help about_Execution_Policies
## Get-Member
Get-Process | Get-Member -MemberType Property
## $env
$env:Path += ';C:\Tools\bin'
[Environment]::SetEnvironmentVariable('JAVA_HOME', 'C:\Program Files\Java\jdk-17', 'Machine')
$env:ASPNETCORE_ENVIRONMENT = 'Staging'; dotnet run --project .\src\{wapp}
$PSVersionTable.PSVersion
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
## & (call operator)
& 'C:\Program Files\{vendor}\{wapp}\{wapp}.exe' --version
& .\build.ps1 -Task Test -Configuration Release
. $PROFILE
## (native commands)
ipconfig /all | Select-String IPv4
git log --oneline -n {n}
winget upgrade --all
docker ps --format '{{.Names}}'
dotnet test .\tests\{wapp}.Tests.csproj --logger 'trx;LogFileName=results.trx'
# --- script idioms: string escapes, subexpressions, hashtables, .NET calls (benign, yet "busy"; see templates_bash._SCRIPTING)
## Write-Host (escapes)
Write-Host "`n[+] Done: $($items.Count) items copied to {wdir}`n"
Write-Host "Status:`t$status" -ForegroundColor Green
Write-Output "Path: `"$path`""
Write-Verbose "Processing `$item = $item"
Write-Host ("{0,-24} {1,10:N0}" -f $name, $size)
Write-Host "`e[32mOK`e[0m {wapp} {version}"
Write-Warning "Failed on $($env:COMPUTERNAME): $($_.Exception.Message)"
## -join and -split
$lines -join "`r`n" | Set-Content -Path {wpath} -Encoding UTF8
$parts = $line -split ','
($env:PATH -split ';') | Where-Object { $_ } | Sort-Object -Unique
$rows | ForEach-Object { $_ -join "`t" } | Out-File {wpath}
("$($user.GivenName).$($user.Surname)@{wdomain}").ToLower()
## variables and literals
$exts = @('.log', '.txt', '.csv', '.{wext}')
$cfg = @{ Name = '{wapp}'; Port = {port}; Enabled = $true }
$obj = [pscustomobject]@{ Name = '{wapp}'; Version = '{version}'; Hosts = @('{computer}', 'localhost') }
$list = [System.Collections.Generic.List[string]]::new()
$bytes = [System.Text.Encoding]::UTF8.GetBytes($text)
$stamp = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')
$dir = Join-Path $env:ProgramData '{vendor}\{wapp}'
$cred = New-Object System.Management.Automation.PSCredential ('{wuser}', $secure)
$hash = (Get-FileHash {wpath} -Algorithm SHA256).Hash.ToLower()
[int]$count = ($items | Measure-Object).Count
## Start-Process (quoted arguments)
Start-Process msiexec.exe -ArgumentList "/i `"{msi}`" /qn /norestart /l*v `"$env:TEMP\install.log`"" -Wait -NoNewWindow
Start-Process -FilePath "$env:ProgramFiles\{vendor}\{wapp}\{wapp}.exe" -ArgumentList '--silent', "--config=`"$cfgPath`"" -PassThru
## Select-Object (calculated properties)
Get-Process | Select-Object Name, Id, @{n='MemMB';e={[math]::Round($_.WorkingSet64 / 1MB, 1)}} | Sort-Object MemMB -Descending
Get-CimInstance Win32_LogicalDisk | Select-Object DeviceID, @{l='FreeGB';e={'{0:N1}' -f ($_.FreeSpace / 1GB)}}
Get-ADUser -Filter * -Properties LastLogonDate | Select-Object Name, @{n='Days';e={(New-TimeSpan $_.LastLogonDate).Days}}
## if, try, foreach
if (-not (Test-Path $dir)) { New-Item -ItemType Directory -Path $dir | Out-Null }
try { Invoke-RestMethod -Uri {wurl} -TimeoutSec 10 } catch { Write-Warning "Failed: $($_.Exception.Message)" }
foreach ($s in $servers) { Test-NetConnection -ComputerName $s -Port {port} | Select-Object ComputerName, TcpTestSucceeded }
switch -Regex ($line) { '^ERROR' { $errors++ } '^WARN' { $warnings++ } default { } }
## Add-Type and .NET
Add-Type -AssemblyName System.IO.Compression.FileSystem
[System.IO.Compression.ZipFile]::ExtractToDirectory("$env:TEMP\{wapp}.zip", "C:\Tools\{wapp}")
[System.IO.File]::WriteAllText({wpath}, $json, [System.Text.UTF8Encoding]::new($false))
[Security.Principal.WindowsIdentity]::GetCurrent().Name
""")
